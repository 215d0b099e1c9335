"""`make run` on a fresh clone, with no BOT_TOKEN: the sandbox starts, says where, serves its
page and its stand-in on loopback, keeps to its own database, and stops on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time

import aiohttp

from bot.sandbox.run import BOT_USERNAME, TOKEN


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _line_with(process: asyncio.subprocess.Process, words: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    seen: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(process.stdout.readline(), deadline - time.monotonic())
        if not line:
            break
        seen.append(line.decode())
        if words in seen[-1]:
            return seen[-1]
    raise AssertionError(f"never printed {words!r}:\n{''.join(seen)}")


async def test_toile_run_without_a_token_starts_the_sandbox_on_its_own_database(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "BOT_TOKEN"}
    env.update({"SANDBOX_PORT": str(port), "WEB_PORT": str(free_port()),
                # The operator's real database: the sandbox must not touch it.
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}"})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        said = await _line_with(process, "starting the sandbox", 60)
        assert (f"No BOT_TOKEN: starting the sandbox on http://127.0.0.1:{port} — nothing "
                "leaves this machine") in said
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/") as page:
                assert page.status == 200 and page.content_type == "text/html"
            async with http.get(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe") as me:
                assert (await me.json())["result"]["username"] == BOT_USERNAME
        # Said as soon as the page is served: the first start then migrates and seeds.
        deadline = time.monotonic() + 60
        while not (tmp_path / "toile-sandbox.db").exists():
            assert time.monotonic() < deadline, "the sandbox made no database of its own"
            await asyncio.sleep(0.1)
        assert not (tmp_path / "toile.db").exists()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output

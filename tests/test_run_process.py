"""`toile run` as an organizer starts it: migrations, long polling, a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from tests.fake_telegram import FakeTelegram
from tests.test_polling_and_ticks import message_update


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_toile_run_answers_over_long_polling_and_stops_on_sigterm(tmp_path):
    import aiohttp

    fake = FakeTelegram()
    await fake.start()
    port = free_port()
    env = {**os.environ, "BOT_TOKEN": "42:TEST", "TELEGRAM_API_URL": fake.url,
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}",
           "ORGANIZER_IDS": "900", "REDIS_URL": "", "WEBHOOK_URL": "",
           "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        fake.updates.put_nowait(message_update(1, 555, "/start"))
        deadline = time.monotonic() + 30
        while not fake.chat(555):
            assert process.returncode is None, (await process.stdout.read()).decode()
            assert time.monotonic() < deadline, "no answer from `toile run`"
            await asyncio.sleep(0.1)
        assert fake.chat(555)[0].text.startswith("Bonjour Nour")
        assert (tmp_path / "toile.db").exists()  # migrated on start
        assert fake.sent("setMyCommands")
        async with aiohttp.ClientSession() as http:  # the wall's server, beside the bot
            async with http.get(f"http://127.0.0.1:{port}/wall/{'x' * 43}") as response:
                assert response.status == 404
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), 20))[0].decode()
        await fake.stop()
    assert process.returncode == 0, output
    assert "Traceback" not in output, output


async def test_a_second_toile_run_on_the_same_database_refuses_naming_the_first(tmp_path):
    import socket
    import sqlite3

    from tests.conftest import ROOT

    fake = FakeTelegram()
    await fake.start()
    env = {**os.environ, "BOT_TOKEN": "42:TEST", "TELEGRAM_API_URL": fake.url,
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}",
           "ORGANIZER_IDS": "900", "REDIS_URL": "", "WEBHOOK_URL": "", "WEB_PORT": "0"}

    async def toile(*args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)

    first = await toile("run")
    try:
        fake.updates.put_nowait(message_update(1, 555, "/start"))
        deadline = time.monotonic() + 30
        while not fake.chat(555):
            assert first.returncode is None, (await first.stdout.read()).decode()
            assert time.monotonic() < deadline, "no answer from `toile run`"
            await asyncio.sleep(0.1)
        second = await toile("run")
        output = (await asyncio.wait_for(second.communicate(), 120))[0].decode()
        assert second.returncode not in (0, None), output
        assert "Another Toile instance is running against this database" in output, output
        assert f"pid {first.pid} on {socket.gethostname()}" in output, output
        assert "Traceback" not in output, output
        # The organizer's other commands (an import here) still work while the bot runs.
        command = await toile("stations", "import", str(ROOT / "examples" / "stations.csv"))
        output = (await asyncio.wait_for(command.communicate(), 60))[0].decode()
        assert command.returncode == 0 and "new" in output, output
        assert first.returncode is None
    finally:
        if first.returncode is None:
            first.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(first.communicate(), 20))[0].decode()
        await fake.stop()
    assert first.returncode == 0, output
    with sqlite3.connect(tmp_path / "toile.db") as connection:  # a clean stop frees it
        assert connection.execute("SELECT count(*) FROM instance_lease").fetchone() == (0,)


async def test_an_instance_that_finds_its_lease_taken_over_stops(tmp_path, monkeypatch):
    """Stalled past its lease (a frozen VM, the database away) while another start took the
    database over: at its next renewal it stops serving, rather than send beside it."""
    import bot.runner
    from bot.config import Settings
    from storage.database import Database

    monkeypatch.setattr(bot.runner, "RENEW_SECONDS", 0.05)
    fake = FakeTelegram()
    await fake.start()
    url = f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}"
    settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url, database_url=url,
                        web_port=0, _env_file=None)  # type: ignore[call-arg]
    serving = asyncio.create_task(bot.runner.serve(settings))
    try:
        deadline = time.monotonic() + 30
        while not fake.sent("getUpdates"):
            assert not serving.done(), serving
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        db = Database(url)
        try:
            async with db.write() as session:
                from sqlalchemy import text

                await session.execute(text(
                    "UPDATE instance_lease SET holder = 'other', host = 'web-2', pid = 4242"))
        finally:
            await db.dispose()
        try:
            await asyncio.wait_for(serving, 10)
        except bot.runner.LeaseLost as exc:
            assert "Another Toile instance (pid 4242 on web-2) took this database over" in str(exc)
        else:
            raise AssertionError("the instance kept serving")
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await fake.stop()

"""The sandbox as `toile sandbox` runs it, inside a test: its page, its stand-in and the
real bot on free ports, its database in the test's folder.

    async with sandbox(tmp_path) as running:   # running.url, running.standin, running.runs
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Page

from bot.config import Settings
from bot.sandbox.run import Sandbox, run_sandbox


async def write(page: Page, text: str) -> None:
    """Type a message in the page's text box and send it, as a person does."""
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def sandbox(workdir: Path, *, wall: bool = True) -> AsyncIterator[Sandbox]:
    base = Settings(web_port=free_port() if wall else 0,  # the wall's server, beside the bot
                    _env_file=None)  # type: ignore[call-arg]
    started: asyncio.Future[Sandbox] = asyncio.get_running_loop().create_future()
    running = asyncio.create_task(run_sandbox(
        base, port=0, file=workdir / "toile-sandbox.db", ready=started.set_result))
    try:
        done, _ = await asyncio.wait({started, running}, timeout=60,
                                     return_when=asyncio.FIRST_COMPLETED)
        if running in done:
            running.result()  # its error
        assert started.done(), "the sandbox did not start within 60 s"
        yield started.result()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

"""The real bot against the stand-in, with the sandbox's page, on one port: for working on
the page before `toile sandbox` exists, and for the page's browser tests.

    .venv/bin/python -m tests.sandbox_dev [--port 8080]

The example campaign and its contacts are loaded into a SQLite file of a temporary folder; Clément (1001) is
the organizer. "Start again" stops the bot, loads a fresh file and starts it again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import build_bot, build_deliverer, build_dispatcher, build_scheduler
from bot.config import Settings
from bot.runner import prepare
from bot.sandbox.page import add_page
from bot.standin import StandIn
from storage.campaigns import load_campaign, parse_campaign_file
from storage.contacts.importer import import_contacts
from storage.database import Database
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
ORGANIZER = 1001


@dataclass
class Running:
    """One run of the bot: as `toile run` assembles it, stopped cleanly on demand."""

    db: Database
    bot: Bot
    dp: Dispatcher
    tasks: list[asyncio.Task[None]]
    scheduler: AsyncIOScheduler

    @classmethod
    async def start(cls, settings: Settings) -> Running:
        db = Database(settings.database_url)
        bot = build_bot(settings)
        dp = build_dispatcher(settings, db)
        await prepare(settings, dp, bot)
        scheduler = build_scheduler(dp, bot)
        scheduler.start()
        tasks = [asyncio.create_task(build_deliverer(dp, bot, settings).run()),
                 asyncio.create_task(dp.start_polling(bot, handle_signals=False))]
        return cls(db, bot, dp, tasks, scheduler)

    async def stop(self) -> None:
        # Cancelled rather than asked to stop: a polling not yet started would miss the ask.
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
        await self.bot.session.close()
        await self.db.dispose()


@dataclass
class Sandbox:
    url: str
    standin: StandIn
    workdir: Path
    runs: int = 0
    bot: Running | None = None
    hints: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    wall: str | None = None

    def settings(self) -> Settings:
        return Settings(bot_token="42:SANDBOX", telegram_api_url=self.url,
                        database_url=f"sqlite+aiosqlite:///{self.workdir}/run{self.runs}.db",
                        organizer_ids=[ORGANIZER], _env_file=None)  # type: ignore[call-arg]

    async def start_bot(self) -> None:
        self.runs += 1
        settings = self.settings()
        await asyncio.to_thread(upgrade, settings.database_url)
        db = Database(settings.database_url)
        campaign, _ = await load_campaign(
            db, parse_campaign_file(ROOT / "examples" / "campaign.toml"))
        with (ROOT / "examples" / "contacts.csv").open("rb") as contacts:
            await import_contacts(db, campaign, contacts, source_label="exemple")
        await db.dispose()
        self.bot = await Running.start(settings)

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None

    async def restart(self) -> None:
        self.hints.clear()
        await self.stop_bot()
        await self.start_bot()


@contextlib.asynccontextmanager
async def sandbox(workdir: Path, port: int = 0) -> AsyncIterator[Sandbox]:
    standin = StandIn(username="toile_sandbox_bot")
    app = web.Application()
    standin.install(app)
    holder: list[Sandbox] = []

    async def hints() -> dict[int, list[dict[str, str]]]:
        return holder[0].hints

    async def on_reset() -> None:
        await holder[0].restart()

    async def wall_url() -> str | None:
        return holder[0].wall

    add_page(app, standin, hints=hints, on_reset=on_reset, wall_url=wall_url)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    running = Sandbox(f"http://127.0.0.1:{bound}", standin, workdir)
    holder.append(running)
    try:
        await running.start_bot()
        yield running
    finally:
        await running.stop_bot()
        await runner.cleanup()


async def main(port: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sandbox-") as workdir:
        async with sandbox(Path(workdir), port) as running:
            print(f"Sandbox on {running.url} — nothing leaves this machine")
            await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    asyncio.run(main(parser.parse_args().port))

"""The sandbox: Toile, unchanged, against a Bot API stand-in on this machine, with a web chat
page for a small cast, on its own SQLite file seeded with the example campaign.

One process serves the page and the stand-in's API on one port (127.0.0.1:8080 unless told
otherwise) and runs the bot exactly as `toile run` does, pointed at that API. "Start again"
stops the bot, deletes the sandbox's database, seeds a new one and starts the bot again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot.config import Settings
from bot.runner import serve
from bot.sandbox.cast import CAST
from bot.sandbox.page import add_page
from bot.sandbox.seed import seed
from bot.standin import StandIn
from handlers.wall import wall_link
from storage.campaigns import active_campaign
from storage.database import Database
from storage.migrate import upgrade
from storage.wall.tokens import wall_token
from storage.web import invite_code

log = logging.getLogger(__name__)

# A token of Telegram's shape that no Telegram bot has: the stand-in accepts any.
TOKEN = "1000000001:sandbox-nothing-leaves-this-machine"
BOT_USERNAME = "toile_sandbox_bot"
DEFAULT_FILE = Path("toile-sandbox.db")
ORGANIZER = next(member.id for member in CAST if member.role == "organizer")
LISA = next(member.id for member in CAST if member.first_name == "Lisa")


class SandboxError(Exception):
    """The sandbox cannot start: the message says why."""


def _same_file(database_url: str, file: Path) -> bool:
    prefix = "sqlite+aiosqlite:///"
    return database_url.startswith(prefix) and (
        Path(database_url.removeprefix(prefix)).resolve() == file.resolve())


def sandbox_settings(base: Settings, host: str, port: int, file: Path) -> Settings:
    """The sandbox's settings: the operator's own (locale, time zone, pace) but never their
    token, database, webhook or organizers."""
    return base.model_copy(update={
        "bot_token": TOKEN, "telegram_api_url": f"http://{host}:{port}",
        "database_url": f"sqlite+aiosqlite:///{file.resolve()}",
        "organizer_ids": [ORGANIZER], "organizer_chat_id": None, "redis_url": None,
        "webhook_url": None, "webhook_secret": None,
    })


@dataclass
class Sandbox:
    settings: Settings
    standin: StandIn
    file: Path
    url: str = ""  # the page's address, once it listens
    runs: int = 0  # bots started: 1, then one more at each "Start again"
    _bot: asyncio.Task[None] | None = None
    _resetting: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def prepare(self, *, fresh: bool = False) -> None:
        """Seed the database the first time (or when asked); later starts keep it."""
        if fresh:
            self._delete_database()
        new = not self.file.exists()
        await asyncio.to_thread(upgrade, self.settings.database_url)
        if new:
            db = Database(self.settings.database_url)
            try:
                await seed(db)
            finally:
                await db.dispose()

    def start_bot(self) -> asyncio.Task[None]:
        self.runs += 1
        self._bot = asyncio.create_task(serve(self.settings), name="toile")
        return self._bot

    async def stop_bot(self) -> None:
        if self._bot is not None and not self._bot.done():
            self._bot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bot
        self._bot = None

    async def reset(self) -> None:
        """"Start again": a new campaign, empty chats, the bot started afresh."""
        async with self._resetting:
            await self.stop_bot()
            self.standin.reset()
            await self.prepare(fresh=True)
            self.start_bot()

    async def hints(self) -> dict[int, list[dict[str, str]]]:
        """Fabrice got Lisa's invite link in another app: his chat shows it, once she has
        one."""
        db = Database(self.settings.database_url)
        try:
            code = await invite_code(db, LISA)
        except LookupError:
            note = {"text": "Lisa vous enverra son lien d'invitation : en tant que Lisa, "
                            "envoyez /invite."}
        else:
            note = {"text": "Lisa vous a envoyé son lien d'invitation :",
                    "link": f"https://t.me/{BOT_USERNAME}?start={code}"}
        finally:
            await db.dispose()
        fabrice = next(member.id for member in CAST if member.first_name == "Fabrice")
        return {fabrice: [note]}

    async def wall_url(self) -> str | None:
        """The room's screen, as Clément's /wall gives it (None when WEB_PORT is 0)."""
        base = self.settings.wall_url()
        if base is None:
            return None
        db = Database(self.settings.database_url)
        try:
            campaign = await active_campaign(db)
            if campaign is None:
                return None
            return wall_link(base, await wall_token(db, campaign, ORGANIZER))
        finally:
            await db.dispose()

    async def supervise(self) -> None:
        """Until the bot stops by itself (Ctrl-C, or its error): a bot cancelled by "Start
        again" is followed by the one the reset starts."""
        while True:
            bot = self._bot
            if bot is None:
                return
            await asyncio.wait({bot})
            async with self._resetting:  # a reset under way starts the next bot first
                if self._bot is bot:
                    bot.result()  # its error, if it stopped on one
                    return

    def _delete_database(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.file}{suffix}").unlink(missing_ok=True)


async def run_sandbox(base: Settings, *, host: str = "127.0.0.1", port: int = 8080,
                      file: Path = DEFAULT_FILE, fresh: bool = False,
                      listening: Callable[[str], None] | None = None,
                      ready: Callable[[Sandbox], None] | None = None) -> None:
    """Serve the page and the stand-in, and run the bot until it stops (Ctrl-C). `listening`
    hears the page's address as soon as it is served, `ready` the sandbox once its bot
    runs."""
    if _same_file(base.database_url, file):  # "Start again" deletes the sandbox's file
        raise SandboxError(f"DATABASE_URL names {file}, the sandbox's own file: the sandbox "
                           "never runs on the real database. Choose another DATABASE_URL.")
    standin = StandIn(username=BOT_USERNAME)
    sandbox = Sandbox(sandbox_settings(base, host, port, file), standin, file)
    app = web.Application()
    standin.install(app)
    add_page(app, standin, hints=sandbox.hints, on_reset=sandbox.reset,
             wall_url=sandbox.wall_url)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if bound != port:  # port 0: the system chose one, which the bot must be told
        sandbox.settings = sandbox_settings(base, host, bound, file)
    sandbox.url = f"http://{host}:{bound}"
    try:
        if listening is not None:  # said at once: a first start migrates and seeds for seconds
            listening(sandbox.url)
        await sandbox.prepare(fresh=fresh)
        sandbox.start_bot()
        if ready is not None:
            ready(sandbox)
        await sandbox.supervise()
    finally:
        await sandbox.stop_bot()
        await runner.cleanup()

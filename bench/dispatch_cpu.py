"""Toile's own CPU per /call + outcome round trip, with no HTTP at all.

    .venv/bin/python bench/dispatch_cpu.py [--round-trips 2000] [--profile [--sort KEY]]

The real dispatcher, middlewares, handlers and SQLite storage, but the bot's session is a
stub that answers every Bot API call at once (a sendMessage or an edit comes back as the
Message Telegram would return). What is left is the work of Toile and aiogram alone: the
figure to push down when `bench/updates.py` falls short. Prints CPU ms per round trip and
per update; `--profile` adds a cProfile.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod
from aiogram.types import Message, Update

import storage.clock
from bench._common import CAMPAIGN_FILE, sqlite_url
from bench.updates import CARD_LIMIT
from bot import telegram_retry
from bot.app import build_bot, build_dispatcher
from bot.config import Settings
from storage.campaign_cache import CampaignCache
from storage.campaigns import load_campaign, parse_campaign_file
from storage.contacts import import_contacts
from storage.database import Database
from storage.migrate import upgrade
from storage.users import decide_volunteer, mark_trained

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Toile"}
PRESSED = (":will_vote", ":no_answer", ":undecided")


class AnsweringSession(BaseSession):
    """Answers at once, as Telegram would, and remembers each chat's last message."""

    def __init__(self) -> None:
        super().__init__()
        self.next_id = 0
        self.last: dict[int, dict[str, Any]] = {}

    async def close(self) -> None:
        pass

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:  # noqa: ASYNC109 (aiogram API)
        if not isinstance(method, SendMessage | EditMessageText):
            return True
        self.next_id += 1
        chat_id = int(method.chat_id)  # type: ignore[arg-type]
        message: dict[str, Any] = {
            "message_id": getattr(method, "message_id", None) or self.next_id, "date": 0,
            "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": method.text}
        if method.reply_markup is not None:
            message["reply_markup"] = method.reply_markup.model_dump(exclude_none=True)
        self.last[chat_id] = message
        return Message.model_validate(message, context={"bot": bot})


async def run(round_trips: int, profile: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-cpu-"))
    url = sqlite_url(workdir / "toile.db")
    real_utcnow = storage.clock.utcnow
    storage.clock.utcnow = lambda: datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # calling hours
    db = Database(url)
    try:
        await asyncio.to_thread(upgrade, url)
        # Forty round trips per volunteer reach the harvest guard's 40 cards an hour (the
        # clock stands still): a longer run would measure pauses, not calls.
        # New callers' limits too; trust never comes: every card takes the untrusted path.
        campaign, _ = await load_campaign(db, {**parse_campaign_file(CAMPAIGN_FILE),
                                               "card_limit_per_hour": CARD_LIMIT,
                                               "untrusted_cards_per_hour": CARD_LIMIT,
                                               "untrusted_cards_per_day": CARD_LIMIT,
                                               "calls_to_trust": CARD_LIMIT})
        rows = ["telephone;prenom;circonscription"] + [
            f"0{612_000_000 + i};P{i};Rhône 3" for i in range(round_trips + 1000)]
        await import_contacts(db, campaign, io.BytesIO("\n".join(rows).encode()),
                              parallel=False)
        volunteers = list(range(1000, 1050))
        for volunteer in volunteers:
            await decide_volunteer(db, volunteer, True, actor_id=None)
            await mark_trained(db, volunteer)
        settings = Settings(bot_token="42:TEST", _env_file=None)  # type: ignore[call-arg]
        bot = build_bot(settings)
        session = AnsweringSession()
        bot.session = session
        telegram_retry.install(bot)
        dp = build_dispatcher(settings, db, campaigns=CampaignCache(db))
        update_ids = iter(range(1, 10**9))
        rng = random.Random(1)

        async def feed(**update: Any) -> None:
            await dp.feed_update(bot, Update.model_validate(
                {"update_id": next(update_ids), **update}, context={"bot": bot}))

        async def round_trip(volunteer: int) -> None:
            person = {"id": volunteer, "is_bot": False, "first_name": "V", "language_code": "fr"}
            await feed(message={
                "message_id": 1, "date": 0, "text": "/call", "from": person,
                "chat": {"id": volunteer, "type": "private"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}]})
            card = session.last[volunteer]
            choices = [b["callback_data"] for row in card["reply_markup"]["inline_keyboard"]
                       for b in row if b.get("callback_data", "").endswith(PRESSED)]
            await feed(callback_query={"id": "1", "from": person, "chat_instance": "c",
                                       "data": rng.choice(choices), "message": card})

        for volunteer in volunteers[:5]:  # warm caches
            await round_trip(volunteer)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        start = time.process_time()
        for i in range(round_trips):
            await round_trip(volunteers[i % len(volunteers)])
        cpu = time.process_time() - start
        if profiler:
            profiler.disable()
        print(f"{round_trips:,} round trips: {cpu / round_trips * 1000:.3f} ms CPU each, "
              f"{cpu / round_trips / 2 * 1000:.3f} ms per update"
              + (" (profiled: slower)" if profiler else ""))
        if profiler:
            pstats.Stats(profiler).sort_stats(profile).print_stats(40)
    finally:
        storage.clock.utcnow = real_utcnow
        await db.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    args = parser.parse_args()
    asyncio.run(run(args.round_trips, args.sort if args.profile else None))


if __name__ == "__main__":
    main()

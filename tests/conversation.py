"""The harness fixture for conversation tests: fake server, real bot, real dispatcher."""

from __future__ import annotations

from bot.app import build_bot, build_dispatcher
from bot.config import Settings
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.users import sync_organizers
from tests.botclient import Harness
from tests.fake_telegram import FakeTelegram

ORGANIZER_ID = 900
ORGANIZERS_GROUP = -100_777  # ORGANIZER_CHAT_ID, where it is set: a group, not a person


async def make_harness(db: Database, *, request_timeout: float = 5.0,
                       organizer_chat_id: int | None = None) -> tuple[Harness, FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url,
                        organizer_ids=[ORGANIZER_ID], database_url=str(db.url),
                        organizer_chat_id=organizer_chat_id,
                        _env_file=None)  # type: ignore[call-arg]
    await sync_organizers(db, settings.organizer_ids)
    bot = build_bot(settings, timeout=request_timeout)
    # A cache that never goes stale in tests: campaigns change under the test's hand.
    dp = build_dispatcher(settings, db, campaigns=CampaignCache(db, ttl=0))
    return Harness(fake, bot, dp), fake


async def deliver(harness: Harness) -> None:
    """Let the deliverer send everything queued (what a running bot does every second)."""
    from bot.app import build_deliverer

    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass

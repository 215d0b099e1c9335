"""The bot as it runs: long polling against the Bot API, the scheduler's lease tick, Redis."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Update

from bot.app import build_bot, build_deliverer, build_dispatcher, register_commands
from bot.config import Settings
from bot.jobs import expire_leases_tick
from storage.calling import QueueRules, assign_next_contact, record_outcome
from storage.campaign_cache import CampaignCache
from storage.contacts import import_contacts
from storage.models import Outcome
from storage.users import Profile, decide_volunteer, ensure_user, mark_trained, set_organizer
from tests.conftest import ROOT
from tests.conversation import ORGANIZER_ID
from tests.fake_telegram import FakeTelegram


def message_update(update_id: int, user_id: int, text: str) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": "Nour", "language_code": "fr"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "chat": {"id": user_id, "type": "private"}, "from": user,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


async def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def bot_on_fake_telegram(db, **dispatcher_options):
    """A bot and its dispatcher, as `toile run` builds them, talking to a fake Bot API."""
    fake = FakeTelegram()
    await fake.start()
    settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url, _env_file=None)
    bot = build_bot(settings)
    try:
        yield fake, bot, build_dispatcher(settings, db, **dispatcher_options)
    finally:
        await bot.session.close()
        await fake.stop()


async def test_long_polling_serves_a_person_end_to_end(sqlite_db):
    async with bot_on_fake_telegram(sqlite_db) as (fake, bot, dp):
        await register_commands(bot, dp["i18n"], [ORGANIZER_ID])
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        try:
            fake.updates.put_nowait(message_update(1, 555, "/start"))
            fake.updates.put_nowait(message_update(2, 555, "/help"))
            await wait_for(lambda: len(fake.chat(555)) >= 3)
            texts = [m.text for m in fake.chat(555)]
            assert texts[0].startswith("Bonjour Nour")
            assert any("Ce que je sais faire" in t for t in texts)
            commands = fake.sent("setMyCommands")
            assert {c.params.get("language_code") for c in commands} >= {"fr", "en"}
        finally:
            await dp.stop_polling()
            await polling


async def test_set_my_commands_failing_is_not_fatal(sqlite_db):
    async with bot_on_fake_telegram(sqlite_db) as (fake, bot, dp):
        fake.fail("setMyCommands", 400, description="Bad Request: invalid command")
        await register_commands(bot, dp["i18n"], [])  # logged, not raised
        assert len(fake.sent("setMyCommands")) == 3  # and the other languages still tried


async def test_lease_tick_takes_back_cards_and_tells_organizers_of_a_pause(db, campaign, frozen_clock):
    with (ROOT / "examples" / "contacts.csv").open("rb") as f:
        await import_contacts(db, campaign, f)
    await ensure_user(db, Profile(ORGANIZER_ID, "Orga", language_code="en"))
    await set_organizer(db, ORGANIZER_ID, True, actor_id=None)
    await decide_volunteer(db, 101, True, actor_id=None)
    rules = QueueRules.of(campaign)
    async with bot_on_fake_telegram(db) as (fake, bot, dp):
        # Nine skips, then a card left to expire: the tenth give-back pauses them.
        for _ in range(rules.skip_limit_per_hour - 1):
            card = await assign_next_contact(db, rules, 101)
            await record_outcome(db, rules, 101, card.contact_id, card.lease_seq, Outcome.SKIPPED)
        await assign_next_contact(db, rules, 101)
        frozen_clock.advance(minutes=16)
        await expire_leases_tick(db, CampaignCache(db, ttl=0))
        deliverer = build_deliverer(dp, bot, dp["settings"])
        while await deliverer.run_once():
            pass
        assert "was paused" in fake.last(ORGANIZER_ID).text
        assert await assign_next_contact(db, rules, 202) is not None


async def test_card_state_lives_in_redis_for_several_instances(sqlite_db, campaign_in_sqlite, frozen_clock):
    """Two bot instances share the volunteer's conversation state through Redis: the card
    shown by one is removed by the other when the volunteer asks again."""
    storage = RedisStorage.from_url("redis://127.0.0.1:6379/15")
    await storage.redis.flushdb()
    with (ROOT / "examples" / "contacts.csv").open("rb") as f:
        await import_contacts(sqlite_db, campaign_in_sqlite, f)
    await decide_volunteer(sqlite_db, 555, True, actor_id=None)
    await mark_trained(sqlite_db, 555)
    try:
        async with bot_on_fake_telegram(sqlite_db, fsm_storage=storage) as (fake, bot, first):
            second = build_dispatcher(Settings(bot_token="42:TEST", _env_file=None), sqlite_db,
                                      fsm_storage=storage)
            for number, dp in enumerate((first, second), start=1):
                await dp.feed_update(bot, Update.model_validate(
                    message_update(number, 555, "/call"), context={"bot": bot}))
            cards = [m for m in fake.chat(555) if "+33612345678" in m.text]
            assert len(cards) == 1  # the first instance's card was deleted by the second
    finally:
        await storage.redis.flushdb()
        await storage.close()

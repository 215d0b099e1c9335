"""Organizers are who the configuration says: an id taken out of ORGANIZER_IDS is refused at
the organizers' door once the bot has restarted; one added from the terminal is not."""

from __future__ import annotations

from contextlib import asynccontextmanager

from bot.app import build_bot, build_dispatcher
from bot.config import Settings
from bot.runner import prepare
from storage.campaign_cache import CampaignCache
from storage.users import set_organizer
from tests.botclient import Harness
from tests.fake_telegram import FakeTelegram

REFUSAL = "Only organizers can do that."


@asynccontextmanager
async def started(db, fake: FakeTelegram, organizer_ids: list[int]):
    """The bot as `toile run` starts it with this ORGANIZER_IDS."""
    settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url,
                        organizer_ids=organizer_ids, database_url=str(db.url),
                        _env_file=None)  # type: ignore[call-arg]
    bot = build_bot(settings, timeout=5)
    dp = build_dispatcher(settings, db, campaigns=CampaignCache(db, ttl=0))
    await prepare(settings, dp, bot)
    try:
        yield Harness(fake, bot, dp)
    finally:
        await bot.session.close()


async def test_an_id_taken_out_of_organizer_ids_is_refused_after_a_restart(db, campaign):
    fake = FakeTelegram()
    await fake.start()
    try:
        async with started(db, fake, [900, 901]) as bot:
            await set_organizer(db, 902, True, actor_id=None)  # toile organizers add 902
            for uid in (900, 901, 902):
                person = bot.person(uid, f"Orga{uid}", "en")
                await person.send("/stats")
                assert person.last().text != REFUSAL, uid
        async with started(db, fake, [900]) as bot:  # 901 taken out, then a restart
            former = bot.person(901, "Orga901", "en")
            await former.send("/stats")
            assert former.last().text == REFUSAL
            await former.send("/help")
            assert "/broadcast" not in former.last().text
            for uid in (900, 902):
                person = bot.person(uid, f"Orga{uid}", "en")
                await person.send("/stats")
                assert person.last().text != REFUSAL, uid
            # Their chat loses the organizers' command menu; the others keep it.
            deleted = [c.params["scope"] for c in fake.sent("deleteMyCommands")]
            assert [scope["chat_id"] for scope in map(_json, deleted)] == [901]
            scoped = [_json(c.params["scope"]).get("chat_id")
                      for c in fake.sent("setMyCommands")[-3:]]
            assert scoped[-2:] == [900, 902]
    finally:
        await fake.stop()


def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else value

"""Vote proxies where Telegram fails, ticks break off or campaigns change: an accepted match
never stalls, a withdrawal always reaches the other side, voter details stay out of FSM data
and go the day after their own campaign's last round."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import select

from bot.jobs import proxy_tick
from bot.telegram_retry import RetryMiddleware
from storage.campaign_cache import CampaignCache
from storage.campaigns import load_campaign, parse_campaign_file
from storage.models import Outbox, ProxyMatch
from tests.conftest import ROOT
from tests.conversation import make_harness
from tests.test_proxy_ask_conversation import a_day_later, joins_and_says_where
from tests.test_proxy_conversation import ask, deliver

OFFER, NEED = "I can carry someone's vote", "I can't vote, I need someone"


@pytest.fixture
async def quick(db):
    """A harness whose HTTP requests give up after a second, and whose 429 retries end soon:
    Telegram failing in every way a handler meets."""
    h, fake = await make_harness(db, request_timeout=1.0)
    for middleware in h.bot.session.middleware:
        if isinstance(middleware, RetryMiddleware):
            middleware.max_retries = 2
    logging.getLogger().addHandler(h.errors)
    yield h
    logging.getLogger().removeHandler(h.errors)
    await h.bot.session.close()
    await fake.stop()
    errors = [r.getMessage() for r in h.errors.records if not getattr(h, "expect_errors", False)]
    assert not errors, f"the bot swallowed errors: {errors}"


def break_edits(harness, how: str) -> None:
    """The next edit of a message fails: refused, timed out, or flood-limited past retries."""
    if how == "400":
        harness.fake.fail("editMessageText", 400,
                          description="Bad Request: message to edit not found")
    elif how == "timeout":
        harness.fake.hang("editMessageText", 1.5)
    else:
        harness.fake.fail("editMessageText", 429, retry_after=1, times=3)


async def proposed(harness, holder_username: str | None = "samir_sd"):
    samir = harness.person(301, "Samir", "en", username=holder_username)
    nadia = harness.person(302, "Nadia", "en", username="nadia_sd")
    await ask(samir, OFFER, "Saint-Denis", "Saint-Denis (93", "12", "Both rounds",
              own="At that same polling station")
    await ask(nadia, NEED, "Saint-Denis", "Saint-Denis (93", "12", "Both rounds")
    await deliver(harness)
    assert samir.last().button_texts() and nadia.last().button_texts()
    return samir, nadia


FAILURES = ["400", "timeout", "429"]


@pytest.mark.parametrize("how", FAILURES)
async def test_the_holder_accepting_last_is_asked_for_details_whatever_the_edit(
        db, campaign, quick, frozen_clock, how):
    samir, nadia = await proposed(quick)
    await nadia.press("Accept")
    break_edits(quick, how)
    await samir.press("Accept")
    await deliver(quick)
    assert samir.last().text.startswith("🗳 Nadia accepted too")
    assert "Give my voter details" in samir.last().button_texts()
    assert nadia.sees("Samir accepted too")  # the giver is told as well
    await samir.press("Accept")  # the proposal still shows its buttons: a stale press
    assert any("moved on meanwhile" in (a.get("text") or "") for a in samir.callback_answers())


@pytest.mark.parametrize("how", FAILURES)
async def test_the_giver_accepting_last_is_told_and_the_holder_asked(db, campaign, quick,
                                                                    frozen_clock, how):
    samir, nadia = await proposed(quick)
    await samir.press("Accept")
    break_edits(quick, how)
    await nadia.press("Accept")
    await deliver(quick)
    assert samir.last().text.startswith("🗳 Nadia accepted too")
    assert nadia.sees("Samir accepted too")


@pytest.mark.parametrize("how", FAILURES)
async def test_a_withdrawal_tells_the_other_side_and_matches_again_whatever_the_edit(
        db, campaign, quick, frozen_clock, how):
    samir, nadia = await proposed(quick)
    await nadia.press("Accept")
    await samir.press("Accept")
    await deliver(quick)
    lina = quick.person(303, "Lina", "en")
    await ask(lina, OFFER, "Saint-Denis", "Saint-Denis (93", "7", "Both rounds",
              own="At that same polling station")
    await samir.send("/proxy")
    break_edits(quick, how)
    await samir.press("Withdraw my request")
    await deliver(quick)
    assert nadia.sees("The other person withdrew from your proxy")
    assert "Lina can vote for you" in nadia.last().text  # matched again at once
    assert "Nadia needs someone to vote for them" in lina.last().text
    await samir.send("/proxy")
    assert "Vote proxies" in samir.last().text and samir.last().button_texts()[0].startswith(
        "🙋")  # withdrawn: /proxy starts afresh


@pytest.mark.parametrize("how", FAILURES)
async def test_yes_to_an_ask_opens_the_questions_whatever_the_edit(db, campaign, quick,
                                                                 frozen_clock, how):
    """Asked near Nadia's need, Karim says yes: the questions open even if the ask's edit
    fails (the dialogue's data is set before it)."""
    frozen_clock.now = datetime(2024, 6, 20, 8, 0, tzinfo=UTC)
    karim = quick.person(301, "Karim", "en")
    await joins_and_says_where(karim, "Saint-Denis", "Saint-Denis (93", "12")
    nadia = quick.person(302, "Nadia", "en")
    await ask(nadia, NEED, "Saint-Denis", "Saint-Denis (93", "12", "Both rounds")
    await a_day_later(quick, frozen_clock)
    break_edits(quick, how)
    await karim.press("Yes, I can")
    assert karim.last().text == "For which round?"
    await karim.press("Both rounds")
    await deliver(quick)
    assert "Karim can vote for you" in nadia.last().text


async def test_a_giver_withdrawing_while_the_holder_has_not_answered(db, campaign, harness,
                                                                   frozen_clock):
    samir, nadia = await proposed(harness)
    await nadia.send("/proxy")
    await nadia.press("Withdraw my request")
    await deliver(harness)
    assert samir.sees("The other person withdrew from your proxy")
    await samir.press("Accept")  # the proposal he still has on screen
    assert any("moved on meanwhile" in (a.get("text") or "")
               for a in samir.callback_answers())
    await deliver(harness)
    assert not samir.sees("accepted too")


def fsm_key(harness, person) -> StorageKey:
    return StorageKey(bot_id=harness.bot.id, chat_id=person.id, user_id=person.id)


async def confirmed_match(harness):
    samir, nadia = await proposed(harness)
    await nadia.press("Accept")
    await samir.press("Accept")
    await deliver(harness)
    return samir, nadia


async def test_the_voter_number_never_sits_in_fsm_data(db, campaign, harness, frozen_clock):
    samir, nadia = await confirmed_match(harness)
    storage = harness.dp.storage
    await samir.press("Give my voter details")
    await samir.send("1234 5678")
    assert "date of birth" in samir.last().text
    assert "12345678" not in repr(await storage.get_data(fsm_key(harness, samir)))
    await samir.send("/me")  # he goes elsewhere and never finishes
    assert "12345678" not in repr(await storage.get_data(fsm_key(harness, samir)))
    # Later, he picks it up again: the number he gave is kept with the match.
    await samir.press("Give my voter details")
    await samir.send("12345678")
    await samir.send("14/07/1985")
    assert "the details went to the person giving the proxy" in samir.last().text
    assert "12345678" not in repr(await storage.get_data(fsm_key(harness, samir)))
    await deliver(harness)
    assert "12345678" in nadia.last().text and "14/07/1985" in nadia.last().text


async def test_a_number_given_alone_is_erased_with_the_rest(db, campaign, harness,
                                                          frozen_clock):
    frozen_clock.now = datetime(2024, 6, 26, 8, 0, tzinfo=UTC)
    samir, _nadia = await confirmed_match(harness)
    await samir.press("Give my voter details")
    await samir.send("12345678")  # and never the date of birth
    frozen_clock.now = datetime(2024, 7, 8, 8, 0, tzinfo=UTC)  # the day after round two
    await proxy_tick(db, harness.dp["campaigns"])
    async with db.read() as session:
        match = (await session.execute(select(ProxyMatch))).scalar_one()
    assert match.holder_voter_number is None and match.holder_birth_date is None


@pytest.mark.parametrize("other_rounds", [[], [{"name": "Tour unique", "date": "2024-09-15"}]])
async def test_voter_details_go_the_day_after_their_own_campaigns_last_round(
        db, campaign, harness, frozen_clock, other_rounds):
    frozen_clock.now = datetime(2024, 6, 26, 8, 0, tzinfo=UTC)  # 10:00 in Paris
    samir, nadia = await confirmed_match(harness)
    await samir.press("Give my voter details")
    await samir.send("12345678")
    await samir.send("14/07/1985")
    await deliver(harness)
    # Another campaign is loaded meanwhile (with no rounds, or a later one).
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    await load_campaign(db, {**fields, "name": "Partielle", "rounds": other_rounds})

    def reminders() -> int:
        return sum("Your proxy: the last step" in m.text for m in nadia.chat())

    frozen_clock.now = datetime(2024, 7, 7, 8, 0, tzinfo=UTC)  # round two: still kept
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    before = reminders()
    async with db.read() as session:
        assert (await session.execute(select(ProxyMatch))).scalar_one().holder_voter_number
    frozen_clock.now = datetime(2024, 7, 8, 8, 0, tzinfo=UTC)  # the next day in Paris
    await proxy_tick(db, harness.dp["campaigns"])
    frozen_clock.advance(days=1)
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    async with db.read() as session:
        match = (await session.execute(select(ProxyMatch))).scalar_one()
    assert match.holder_voter_number is None and match.holder_birth_date is None
    assert reminders() == before  # the reminders that carried them stopped


async def test_a_tick_that_breaks_off_keeps_the_expiry_messages(db, campaign, harness,
                                                              frozen_clock, monkeypatch):
    import storage.proxies

    samir, nadia = await proposed(harness)
    frozen_clock.advance(hours=25)

    async def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(storage.proxies, "match_all", broken)
    harness.expect_errors = True  # the tick logs its failure
    await proxy_tick(db, CampaignCache(db, ttl=0))
    await deliver(harness)
    assert nadia.sees("did not go ahead") and samir.sees("did not go ahead")


async def test_a_proxy_registered_after_the_campaign_is_replaced(db, campaign, harness,
                                                                frozen_clock):
    frozen_clock.now = datetime(2024, 6, 26, 8, 0, tzinfo=UTC)
    samir, nadia = await confirmed_match(harness)
    await samir.press("Give my voter details")
    await samir.send("12345678")
    await samir.send("14/07/1985")
    await deliver(harness)
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    await load_campaign(db, {**fields, "name": "Partielle",
                             "rounds": [{"name": "Tour unique", "date": "2024-09-15"}]})
    await nadia.press("Done, my proxy is registered")
    await deliver(harness)
    assert "Nadia's proxy is registered" in samir.last().text
    frozen_clock.now = datetime(2024, 6, 29, 8, 0, tzinfo=UTC)  # the eve of its round one
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    assert samir.sees("Tomorrow you vote for Nadia")
    async with db.read() as session:
        kinds = [o.kind for o in (await session.execute(select(Outbox))).scalars()]
    assert kinds.count("proxy_eve") == 1


async def test_requests_made_before_they_named_their_campaign_belong_to_the_active_one(
        tmp_path):
    import asyncio
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    from storage.migrate import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url, "0009"))
    with sqlite3.connect(path) as con:
        con.executescript("""
            INSERT INTO campaign (id, name, timezone, calling_start, calling_end, script,
                talking_points, target_constituencies, retry_delay_minutes, max_attempts,
                lease_minutes, skip_limit_per_hour, rounds, nudge_days, messaging_start,
                messaging_end, proxy_capacity, active, created_at) VALUES
                (1, 'Old', 'Europe/Paris', '09:00', '21:00', 's', '[]', '[]', 120, 3, 15, 10,
                 '[]', '[1]', '09:00', '21:00', 1, 0, '2024-01-01 00:00:00.000000'),
                (2, 'Now', 'Europe/Paris', '09:00', '21:00', 's', '[]', '[]', 120, 3, 15, 10,
                 '[{"name": "Premier tour", "date": "2024-06-30"}]', '[1]', '09:00', '21:00',
                 1, 1, '2024-01-01 00:00:00.000000'),
                (3, 'Draft', 'Europe/Paris', '09:00', '21:00', 's', '[]', '[]', 120, 3, 15, 10,
                 '[]', '[1]', '09:00', '21:00', 1, 0, '2024-01-01 00:00:00.000000');
            INSERT INTO proxy_request (kind, status, first_name, commune_insee, department,
                station, rounds_mask, created_at) VALUES
                ('need', 'open', 'N', '93066', '93', '12', 1, '2024-06-01 00:00:00.000000');
        """)
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url))
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT campaign_id FROM proxy_request").fetchall() == [(2,)]


async def test_a_holder_leaving_a_giver_off_telegram_is_the_organizers_to_pass_on(
        db, campaign, harness, frozen_clock):
    from tests.conversation import ORGANIZER_ID
    from tests.test_calling_conversation import load_contacts, ready_volunteer

    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await camille.send("/call")
    await camille.press("Needs a vote proxy")
    await camille.press("Saint-Denis (93")
    await camille.send("7")
    await camille.press("Premier tour")
    samir = harness.person(301, "Samir", "en")
    await ask(samir, OFFER, "Saint-Denis", "Saint-Denis (93", "7", "Both rounds",
              own="At that same polling station")
    await deliver(harness)
    await samir.send("/proxy")
    await samir.press("Withdraw my request")
    await deliver(harness)
    assert organizer.last().text.startswith(
        "🗳 Samir withdrew from the proxy with Fabrice (+33612345678)")

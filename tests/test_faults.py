"""Telegram fails (429, 403, 5xx, timeouts, 400): the bot survives and loses nothing."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from storage.contacts import import_contacts
from storage.models import Call, User
from storage.users import decide_volunteer, mark_trained
from tests.conftest import ROOT
from tests.conversation import make_harness


@pytest.fixture
async def impatient(sqlite_db):
    """A harness whose HTTP requests give up after half a second."""
    h, fake = await make_harness(sqlite_db, request_timeout=0.5)
    logging.getLogger().addHandler(h.errors)
    yield h
    logging.getLogger().removeHandler(h.errors)
    await h.bot.session.close()
    await fake.stop()


async def volunteer_with_contacts(db, campaign, harness):
    with (ROOT / "examples" / "contacts.csv").open("rb") as f:
        await import_contacts(db, campaign, f)
    await decide_volunteer(db, 101, True, actor_id=None)
    await mark_trained(db, 101)
    return harness.person(101, "Camille", "en")


async def calls(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(Call))).scalar_one()


async def test_429_waits_retry_after_then_goes_through(db, campaign, harness, frozen_clock):
    camille = await volunteer_with_contacts(db, campaign, harness)
    await camille.send("/call")
    harness.fake.fail("answerCallbackQuery", 429, retry_after=1)
    await camille.press("Will vote")
    answers = harness.fake.sent("answerCallbackQuery")
    assert len(answers) == 2 and answers[1].at - answers[0].at >= 1.0  # waited retry_after
    assert "Recorded" in camille.last().text
    assert await calls(db) == 1


async def test_server_errors_are_retried(db, campaign, harness, frozen_clock):
    camille = await volunteer_with_contacts(db, campaign, harness)
    harness.fake.fail("sendMessage", 502, times=2)
    await camille.send("/call")
    assert "+33612345678" in camille.last().text
    assert len(harness.fake.sent("sendMessage")) == 3


async def test_403_marks_the_person_unreachable_and_the_bot_goes_on(db, campaign, harness, frozen_clock):
    camille = await volunteer_with_contacts(db, campaign, harness)
    harness.fake.fail("sendMessage", 403)
    await camille.send("/start")
    async with db.read() as s:
        assert (await s.get(User, 101)).blocked is True
    await camille.send("/call")  # writing again means they unblocked us
    assert "+33612345678" in camille.last().text
    async with db.read() as s:
        assert (await s.get(User, 101)).blocked is False


async def test_a_400_on_edit_loses_neither_the_outcome_nor_the_privacy(db, campaign, harness, frozen_clock):
    camille = await volunteer_with_contacts(db, campaign, harness)
    await camille.send("/call")
    harness.fake.fail("editMessageText", 400)
    await camille.press("No answer")
    assert await calls(db) == 1
    assert not any("+33" in m.text for m in camille.chat())  # the card was deleted instead
    assert "No answer. Recorded" in camille.last().text


async def test_a_timeout_is_survived_and_the_card_is_not_lost(sqlite_db, impatient, frozen_clock):
    from tests.conftest import load_example_campaign

    campaign = await load_example_campaign(sqlite_db)
    camille = await volunteer_with_contacts(sqlite_db, campaign, impatient)
    impatient.expect_errors = True  # the timed-out update is logged, not fatal
    impatient.fake.hang("sendMessage", 1.5)
    await camille.send("/call")
    assert any("timeout" in r.getMessage().lower() for r in impatient.errors.records)
    assert camille.sees("something went wrong")  # told, not left wondering
    # The volunteer taps again: the same contact comes back, nothing was handed out twice.
    await camille.send("/call")
    assert "+33612345678" in camille.last().text
    await camille.press("Will vote")
    assert await calls(sqlite_db) == 1

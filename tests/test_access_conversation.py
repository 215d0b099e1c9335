"""Who may call, as people live it: asking, being approved or declined, being paused, and
the harvest guard; every follow-up message survives a crash right after its change."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from storage.models import Call, DoNotCall, Outbox, User
from storage.users import Profile, ensure_user, set_organizer
from tests.conversation import ORGANIZER_ID, deliver
from tests.test_calling_conversation import load_contacts, numbers_in, ready_volunteer


class Crash(Exception):
    """The process dying right after a commit, before anything was sent."""


def crash_after(operation):
    async def wrapped(*args, **kwargs):
        await operation(*args, **kwargs)
        raise Crash

    return wrapped


async def test_a_crash_after_asking_to_call_loses_neither_alert_nor_confirmation(
        db, campaign, harness, frozen_clock, monkeypatch):
    from handlers import access

    harness.expect_errors = True
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    eve = harness.person(106, "Eve", "en")
    await eve.send("/start")
    monkeypatch.setattr(access, "request_to_call", crash_after(access.request_to_call))
    await eve.press("I want to make calls")
    await deliver(harness)
    assert "would like to make calls" in organizer.last().text
    assert eve.sees("Your request went to the organizers")
    await organizer.press("Approve")
    await deliver(harness)
    assert eve.sees("You are approved")


async def test_a_crash_after_a_decision_still_tells_the_person(db, campaign, harness,
                                                             frozen_clock, monkeypatch):
    from handlers import access

    harness.expect_errors = True
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    eve = harness.person(106, "Eve", "en")
    await eve.send("/start")
    await eve.press("I want to make calls")
    await deliver(harness)
    monkeypatch.setattr(access, "decide_volunteer", crash_after(access.decide_volunteer))
    await organizer.press("Approve")
    await deliver(harness)
    assert eve.sees("You are approved")


async def test_a_crash_after_the_skip_limit_pause_still_tells_everyone(
        db, campaign, harness, frozen_clock, monkeypatch):
    from handlers import calling

    harness.expect_errors = True
    await load_contacts(db, campaign)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    camille = await ready_volunteer(db, harness)
    for _ in range(campaign.skip_limit_per_hour - 1):
        await camille.send("/call")
        await camille.press("Skip")
    monkeypatch.setattr(calling, "record_outcome", crash_after(calling.record_outcome))
    await camille.send("/call")
    await camille.press("Skip")
    await deliver(harness)
    assert "was paused" in organizer.last().text
    assert camille.sees("your calling is paused")
    await organizer.press("Resume")
    await deliver(harness)
    assert camille.sees("calling is resumed")


async def test_approving_from_the_terminal_tells_the_person_through_the_bot(
        db, campaign, harness, frozen_clock, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app
    from bot.config import get_settings

    lisa = harness.person(110, "Lisa", "en")
    await lisa.send("/start")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, app,
                                         ["volunteers", "approve", "110"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "110 is approved" in result.output
    await deliver(harness)
    assert lisa.sees("You are approved")


async def lisa_holds_a_card_and_is_declined(db, harness, *, deletable: bool = True):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    lisa = harness.person(110, "Lisa", "en")
    await lisa.send("/start")
    await lisa.press("I want to make calls")
    await deliver(harness)
    alert = organizer.last()
    decline = next(b for b in alert.buttons() if "Decline" in b["text"])["callback_data"]
    await organizer.press("Approve")
    await deliver(harness)
    await lisa.send("/call")
    await lisa.press("A practice call")  # the practice the campaign asks for, first
    await lisa.press("No answer")
    await lisa.press("My first real call")
    card = lisa.last()
    assert "+33612345678" in card.text
    if not deletable:
        harness.fake.fail("deleteMessage", 400, description="Bad Request: message can't be deleted")
    await organizer.press_data(decline, alert)  # the organizer changes their mind
    await deliver(harness)
    assert lisa.sees("can't take you on as a caller")
    return lisa, card


async def test_lisa_declined_while_holding_a_card_loses_it_at_once(db, campaign, harness,
                                                                 frozen_clock):
    await load_contacts(db, campaign)
    lisa, _card = await lisa_holds_a_card_and_is_declined(db, harness)
    assert numbers_in(lisa) == []  # the number left her chat
    nicolas = await ready_volunteer(db, harness, 111, "Nicolas")
    await nicolas.send("/call")
    assert "+33612345678" in nicolas.last().text  # back in the queue at once


async def test_a_press_on_the_card_of_a_declined_volunteer_records_nothing(db, campaign,
                                                                         harness, frozen_clock):
    await load_contacts(db, campaign)
    lisa, card = await lisa_holds_a_card_and_is_declined(db, harness, deletable=False)
    await lisa.press("No answer", card)
    shown = next(m for m in lisa.chat() if m.message_id == card.message_id)
    assert "Nothing was recorded" in shown.text
    assert numbers_in(lisa) == []
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Call))).scalar_one() == 0
    nicolas = await ready_volunteer(db, harness, 111, "Nicolas")
    await nicolas.send("/call")
    assert "+33612345678" in nicolas.last().text


async def test_forty_do_not_call_presses_a_second_apart(db, campaign, harness, frozen_clock):
    from storage.contacts import import_contacts
    from tests.test_storage_calling import numbers_csv

    await import_contacts(db, campaign, numbers_csv(45))
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    lisa = await ready_volunteer(db, harness, 110, "Lisa")
    presses = 0
    for _ in range(40):
        await lisa.send("/call")
        if not any("Do not call again" in b for b in lisa.last().button_texts()):
            break
        frozen_clock.advance(seconds=1)
        await lisa.press("Do not call again")
        presses += 1
    assert presses == 3  # the third press held in an hour pauses her
    assert lisa.sees("An organizer will confirm")
    assert lisa.last().text.startswith("Your calling is paused")
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(DoNotCall))).scalar_one() == 0
    await deliver(harness)
    held = [m for m in organizer.chat() if "on the do-not-call list" in m.text]
    assert len(held) == 3
    assert any("was paused" in m.text for m in organizer.chat())
    await organizer.press("Confirm", held[0])
    await organizer.press("Back to the queue", held[1])
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(DoNotCall))).scalar_one() == 1
    # Resumed, she may go on; the rejected contact is in the queue again.
    await organizer.press("Resume")
    await deliver(harness)
    await lisa.send("/call")
    assert len(numbers_in(lisa)) == 1


async def test_a_pause_alert_to_a_blocked_organizer_keeps_the_pause(db, campaign, harness,
                                                                   frozen_clock):
    await load_contacts(db, campaign)
    await ensure_user(db, Profile(901, "Second", language_code="en"))
    await set_organizer(db, 901, True, actor_id=None)
    camille = await ready_volunteer(db, harness)
    for _ in range(campaign.skip_limit_per_hour):
        await camille.send("/call")
        await camille.press("Skip")
    harness.fake.fail("sendMessage", 403)  # the first organizer blocked the bot
    await deliver(harness)
    async with db.read() as s:
        assert (await s.get(User, 101)).volunteer_status == "paused"
    told = [c for c in (ORGANIZER_ID, 901)
            if any("was paused" in m.text for m in harness.fake.chat(c))]
    async with db.read() as s:
        rows = (await s.execute(select(Outbox.kind, Outbox.chat_id, Outbox.status,
                                       Outbox.error))).all()
    assert len(told) == 1, rows
    assert camille.sees("your calling is paused")



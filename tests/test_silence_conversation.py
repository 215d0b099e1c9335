"""The electoral silence (Code électoral, art. L49) as the campaign lives it: the example
campaign's first round is on Sunday 30/06/2024, so from Saturday 29/06 00:00 until the polls
close on Sunday at 20:00 (Paris) no campaign message goes out and nobody is handed a card."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.app import build_deliverer, progress_editor
from bot.jobs import broadcast_tick, plan_web_messages_tick, proxy_tick
from storage.models import Broadcast, Outbox
from storage.web import save_pledge
from tests.conversation import ORGANIZER_ID
from tests.test_broadcast_conversation import compose
from tests.test_calling_conversation import load_contacts, numbers_in, ready_volunteer
from tests.test_proxy_conversation import ask

THURSDAY = datetime(2024, 6, 27, 8, 0, tzinfo=UTC)  # 10:00 in Paris
FRIDAY_NIGHT = datetime(2024, 6, 28, 21, 59, tzinfo=UTC)  # 23:59: the last minute allowed
EVE = datetime(2024, 6, 29, 8, 0, tzinfo=UTC)  # Saturday 10:00: the silence
POLLS_CLOSE = datetime(2024, 6, 30, 18, 0, tzinfo=UTC)  # Sunday 20:00


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def deliver(harness) -> None:
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass


async def ticks(harness) -> None:
    """What the running bot's scheduler does, then its deliverer."""
    db = harness.dp["db"]
    await broadcast_tick(db, progress_editor(harness.dp, harness.bot), edit_seconds=1.0)
    await plan_web_messages_tick(db, harness.dp["campaigns"])
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)


async def organizer_and_camille(harness):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    camille = harness.person(101, "Camille", "en")
    await organizer.send("/start")
    await camille.send("/start")
    return organizer, camille


async def test_a_broadcast_for_the_eve_is_refused_and_the_polls_closing_offered(
        db, campaign, harness, frozen_clock):
    frozen_clock.now = THURSDAY
    organizer, camille = await organizer_and_camille(harness)
    await compose(organizer, "Tous dans la rue samedi !", "Everyone", "No shift")
    await organizer.press("Send later")
    assert organizer.sees("Electoral silence of the Premier tour: from 29/06 00:00 until the "
                          "polls close on 30/06 at 20:00")  # seen before choosing a time
    await organizer.send("29/06 10:00")
    told = organizer.last()
    assert "falls in the electoral silence" in told.text and "L49" in told.text
    assert "🕒 Send on 30/06 at 20:00" in told.button_texts()
    async with db.read() as session:
        assert (await session.execute(select(Broadcast))).first() is None  # nothing saved
    await organizer.press("Send on 30/06 at 20:00")
    assert organizer.sees("📣 Scheduled for 30/06 20:00: 2 people.")

    frozen_clock.now = POLLS_CLOSE
    frozen_clock.advance(minutes=-1)  # 19:59: still silent
    await ticks(harness)
    assert not camille.sees("Tous dans la rue")
    frozen_clock.now = POLLS_CLOSE
    await ticks(harness)
    assert camille.sees("Tous dans la rue samedi !")


async def test_sending_now_during_the_silence_is_offered_the_polls_closing_too(
        db, campaign, harness, frozen_clock):
    frozen_clock.now = EVE
    organizer, camille = await organizer_and_camille(harness)
    await compose(organizer, "Merci à tous", "Everyone", "No shift")
    await organizer.press("Send now")
    assert "falls in the electoral silence" in organizer.last().text
    await organizer.send("01/07 09:00")  # or another time, written
    assert organizer.sees("📣 Scheduled for 01/07 09:00: 2 people.")
    await ticks(harness)
    assert not camille.sees("Merci à tous")


async def test_a_broadcast_scheduled_before_the_silence_waits_until_the_polls_close(
        db, campaign, harness, frozen_clock):
    frozen_clock.now = THURSDAY
    organizer, camille = await organizer_and_camille(harness)
    await compose(organizer, "Rendez-vous vendredi soir", "Everyone", "No shift")
    await organizer.press("Send later")
    await organizer.send("28/06 23:59")
    assert organizer.sees("📣 Scheduled for 28/06 23:59: 2 people.")
    frozen_clock.now = EVE  # the bot was down at 23:59: its tick comes in the silence
    await ticks(harness)
    assert not camille.sees("Rendez-vous")
    async with db.read() as session:
        assert (await session.execute(select(Broadcast))).scalar_one().status == "scheduled"
    await organizer.send("/stats")
    assert organizer.sees("campaign messages wait for its end and the phone bank is closed")
    frozen_clock.now = POLLS_CLOSE
    await ticks(harness)
    assert camille.sees("Rendez-vous vendredi soir")


async def test_a_broadcast_going_out_at_midnight_stops_and_the_rest_follows_after(
        db, campaign, harness, frozen_clock):
    frozen_clock.now = FRIDAY_NIGHT
    organizer, camille = await organizer_and_camille(harness)
    await compose(organizer, "Dernier appel", "Everyone", "No shift")
    await organizer.press("Send now")  # started at 23:59: its rows are queued
    frozen_clock.now = EVE  # ... but not sent before midnight
    await deliver(harness)
    assert not camille.sees("Dernier appel")
    frozen_clock.now = POLLS_CLOSE
    await deliver(harness)
    assert camille.sees("Dernier appel")


async def test_a_volunteers_call_on_the_eve_is_closed_and_says_why(db, campaign, harness,
                                                                   frozen_clock):
    await load_contacts(db, campaign)
    frozen_clock.now = EVE
    lisa = await ready_volunteer(db, harness, 102, "Lisa")
    await lisa.send("/call")
    assert lisa.last().text.startswith(
        "🤫 Calling is closed: electoral silence until 30/06 at 20:00")
    assert "L49" in lisa.last().text
    assert numbers_in(lisa) == []  # no card handed out
    frozen_clock.now = POLLS_CLOSE  # 20:00 on Sunday: open again until 21:00
    await lisa.send("/call")
    assert len(numbers_in(lisa)) == 1


async def test_nudges_wait_and_a_proxy_reminder_still_goes_out(db, campaign, harness,
                                                               frozen_clock):
    frozen_clock.now = datetime(2024, 6, 26, 8, 0, tzinfo=UTC)  # Wednesday
    samir = harness.person(301, "Samir", "en", username="samir_sd")
    nadia = harness.person(302, "Nadia", "en")
    await ask(samir, "I can carry someone's vote", "Saint-Denis", "Saint-Denis (93", "12",
              "Premier tour", own="At that same polling station")
    await ask(nadia, "I can't vote, I need someone", "Saint-Denis", "Saint-Denis (93", "12",
              "Premier tour")
    await deliver(harness)
    await nadia.press("Accept")
    await samir.press("Accept")
    await deliver(harness)
    await samir.press("Give my voter details")
    await samir.send("12345678")
    await samir.send("14/07/1985")
    await deliver(harness)
    await nadia.press("Done, my proxy is registered")
    # Joined on Wednesday, Camille is due her first nudge on Thursday... which the
    # deliverer was too busy to send before midnight on Friday.
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    frozen_clock.now = datetime(2024, 6, 28, 18, 0, tzinfo=UTC)  # Friday 20:00
    await plan_web_messages_tick(db, harness.dp["campaigns"])
    frozen_clock.now = EVE
    await ticks(harness)
    assert samir.sees("Tomorrow you vote for Nadia")  # practical: agreed by both
    assert not camille.sees("Have you thought of three people")
    frozen_clock.now = datetime(2024, 6, 30, 8, 0, tzinfo=UTC)  # polling day, 10:00
    await ticks(harness)
    assert not camille.sees("Have you thought of three people")
    frozen_clock.now = POLLS_CLOSE
    await ticks(harness)
    assert camille.sees("Have you thought of three people")
    async with db.read() as session:
        nudges = list((await session.execute(
            select(Outbox).where(Outbox.kind == "nudge"))).scalars())
    # Friday's were held; none was planned in the silence, none sent before its end.
    assert "nudge:101:1" in [n.key for n in nudges]
    assert not [n.key for n in nudges if EVE.replace(hour=0) <= utc(n.created_at) < POLLS_CLOSE]
    assert all(utc(n.sent_at) >= POLLS_CLOSE for n in nudges if n.sent_at is not None)


async def test_a_pledge_reminder_the_silence_overtook_is_dropped(db, campaign, harness,
                                                                 frozen_clock):
    frozen_clock.now = THURSDAY
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    await save_pledge(db, 101, ["Fabrice", "Élodie", "Nicolas"])
    frozen_clock.now = datetime(2024, 6, 28, 18, 59, tzinfo=UTC)  # Friday 20:59
    await plan_web_messages_tick(db, harness.dp["campaigns"])  # queued, not yet sent
    frozen_clock.now = EVE
    await deliver(harness)
    frozen_clock.now = POLLS_CLOSE
    await deliver(harness)
    assert not camille.sees("Remind Fabrice")  # the vote is over: stale
    async with db.read() as session:
        row = (await session.execute(
            select(Outbox).where(Outbox.kind == "pledge_reminder"))).scalar_one()
    assert (row.status, row.error) == ("skipped", "stale: its round's silence began")


async def test_invitations_wait_and_messages_between_two_people_go_on(db, campaign, harness,
                                                                      frozen_clock):
    frozen_clock.now = EVE
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    await camille.send("/invite")
    assert camille.last().text.startswith("🤫 Invitations wait until the polls close")
    assert "t.me/" not in camille.last().text
    # Asking to volunteer is between the organizers and her: the answer goes.
    await camille.send("/start")
    await camille.press("I want to make calls")
    await deliver(harness)
    assert camille.sees("Your request went to the organizers")

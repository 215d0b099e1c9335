"""Asking the people near a need nobody offered for, as they live it through the fake Bot
API: "Where do you vote?" at /start and in /invite, the ask a day later, its Yes and No,
and the organizers' evening line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.jobs import proxy_tick
from storage.models import ProxyAsk, ProxyRequest, User
from tests.conversation import ORGANIZER_ID, deliver
from tests.test_proxy_conversation import ask

NEED = "I can't vote, I need someone"
OFFER = "I can carry someone's vote"
SAINT_DENIS = "Saint-Denis (93"


@pytest.fixture
def june(frozen_clock):
    """10:00 in Paris, ten days before the first round."""
    frozen_clock.now = datetime(2024, 6, 20, 8, 0, tzinfo=UTC)
    return frozen_clock


async def joins_and_says_where(person, commune: str, pick: str, station: str | None) -> None:
    """/start, then "Where do you vote?" answered (station None: "I don't know it")."""
    await person.send("/start")
    assert "Where do you vote?" in person.last().text
    await person.send(commune)
    await person.press(pick)
    if station is None:
        await person.press("I don't know it")
    else:
        await person.send(station)


async def a_day_later(harness, clock) -> None:
    clock.advance(hours=24)
    await proxy_tick(harness.dp["db"], harness.dp["campaigns"])
    await deliver(harness)


def asks_in(person) -> list[str]:
    return [m.text for m in person.chat() if "could you carry their vote?" in m.text]


async def test_karim_who_votes_at_station_12_carries_nadias_vote(db, campaign, harness, june):
    karim = harness.person(301, "Karim", "en")
    await joins_and_says_where(karim, "Saint-Denis", SAINT_DENIS, "12")
    assert karim.last().text.startswith(
        "✅ Noted: you vote at polling station 12, Saint-Denis (93).")
    nadia = harness.person(302, "Nadia", "en", last_name="Benali")
    await ask(nadia, NEED, "93200", SAINT_DENIS, "12", "Both rounds")
    await deliver(harness)
    assert asks_in(karim) == []  # a day first: someone may still offer

    await a_day_later(harness, june)
    [asked] = asks_in(karim)
    assert asked.startswith("🗳 Nadia votes at polling station 12 in Saint-Denis and cannot go "
                            "on Premier tour (30/06), Second tour (07/07): could you carry "
                            "their vote?")
    assert "Benali" not in asked
    await karim.press("Yes, I can")
    # The place where he votes for her, and his own, are known: only the rounds are asked.
    assert any("You would vote for Nadia at polling station 12 in Saint-Denis" in m.text
               for m in karim.chat())
    assert karim.last().text == "For which round?"
    await karim.press("Both rounds")
    assert karim.last().text.startswith("✅ Recorded. Thank you!")
    await deliver(harness)
    assert "Karim can vote for you (Premier tour, Second tour) at your polling station 12" in \
        nadia.last().text
    assert "Nadia needs someone to vote for them" in karim.last().text
    async with db.read() as session:
        offer = (await session.execute(select(ProxyRequest).where(
            ProxyRequest.user_id == 301))).scalar_one()
    # Where he votes for Nadia, and where he votes himself.
    assert (offer.commune_insee, offer.station) == ("93066", "12")
    assert (offer.own_commune_insee, offer.own_station) == ("93066", "12")


async def test_no_thanks_and_an_old_button_opens_nothing(db, campaign, harness, june):
    karim, lina = harness.person(301, "Karim", "en"), harness.person(303, "Lina", "en")
    await joins_and_says_where(karim, "Saint-Denis", SAINT_DENIS, "3")
    await joins_and_says_where(lina, "93200", SAINT_DENIS, None)  # her commune only
    nadia = harness.person(302, "Nadia", "en")
    await ask(nadia, NEED, "Saint-Denis", SAINT_DENIS, "12", "Premier tour")
    await a_day_later(harness, june)
    assert len(asks_in(karim)) == len(asks_in(lina)) == 1

    await lina.press("No")
    assert lina.last().text.endswith("Thank you for answering. We will find someone else.")
    assert lina.last().button_texts() == []

    samir = harness.person(304, "Samir", "en")  # offers meanwhile: Nadia is matched
    await ask(samir, OFFER, "Saint-Denis", SAINT_DENIS, "12", "Both rounds",
              own="At that same polling station")
    await karim.press("Yes, I can")
    assert "This person does not need anyone any more" in karim.last().text
    assert karim.last().button_texts() == ["🤝 I can carry someone's vote"]  # in general
    await karim.send("12")  # no question was opened
    assert "didn't understand" in karim.last().text
    async with db.read() as session:
        assert (await session.execute(select(ProxyRequest).where(
            ProxyRequest.user_id == 301))).first() is None


async def test_both_asked_say_yes_and_the_matching_decides(db, campaign, harness, june):
    karim, lina = harness.person(301, "Karim", "en"), harness.person(303, "Lina", "en")
    await joins_and_says_where(karim, "Saint-Denis", SAINT_DENIS, "12")
    await joins_and_says_where(lina, "Saint-Denis", SAINT_DENIS, "12")
    nadia = harness.person(302, "Nadia", "en")
    await ask(nadia, NEED, "Saint-Denis", SAINT_DENIS, "12", "Premier tour")
    await a_day_later(harness, june)
    await karim.press("Yes, I can")
    await lina.press("Yes, I can")  # still waiting: nobody has made the offer yet
    await karim.press("Premier tour")
    await lina.press("Premier tour")
    assert lina.last().text.startswith("✅ Recorded. Thank you!")  # an offer all the same
    await deliver(harness)
    assert "Karim can vote for you" in nadia.last().text
    assert not lina.sees("Nadia needs someone to vote for them")


async def test_who_is_not_asked_and_when(db, campaign, harness, june):
    karim, lina = harness.person(301, "Karim", "en"), harness.person(303, "Lina", "en")
    await joins_and_says_where(karim, "Saint-Denis", SAINT_DENIS, "12")
    await joins_and_says_where(lina, "Saint-Denis", SAINT_DENIS, "12")
    await lina.send("/stop")
    nadia = harness.person(302, "Nadia", "en")
    await ask(nadia, NEED, "Saint-Denis", SAINT_DENIS, "12", "Both rounds")
    await a_day_later(harness, june)
    assert len(asks_in(karim)) == 1 and asks_in(lina) == []

    omar = harness.person(305, "Omar", "en")  # a second need the same week
    await ask(omar, NEED, "Saint-Denis", SAINT_DENIS, "7", "Both rounds")
    await a_day_later(harness, june)
    await a_day_later(harness, june)
    assert len(asks_in(karim)) == 1  # once a week at most


async def test_the_electoral_silence_holds_the_ask(db, campaign, harness, frozen_clock):
    frozen_clock.now = datetime(2024, 6, 27, 8, 0, tzinfo=UTC)
    karim = harness.person(301, "Karim", "en")
    await joins_and_says_where(karim, "Saint-Denis", SAINT_DENIS, "12")
    nadia = harness.person(302, "Nadia", "en")
    await ask(nadia, NEED, "Saint-Denis", SAINT_DENIS, "12", "Both rounds")
    frozen_clock.now = datetime(2024, 6, 29, 8, 0, tzinfo=UTC)  # the eve of round one
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    assert asks_in(karim) == []
    async with db.read() as session:
        assert len((await session.execute(select(ProxyAsk))).all()) == 1  # waiting
    frozen_clock.now = datetime(2024, 6, 30, 18, 30, tzinfo=UTC)  # polls closed at 20:00
    await deliver(harness)
    [asked] = asks_in(karim)
    assert "cannot go on Second tour (07/07)" in asked  # the round still to come


async def test_skipping_where_you_vote_blocks_nothing_and_invite_offers_it_again(
        db, campaign, harness, june):
    zoe = harness.person(306, "Zoé", "en")
    await zoe.send("/start")
    await zoe.press("Skip")
    assert zoe.last().text == "All right. You can tell us later from /invite."
    await zoe.send("hello")
    assert "didn't understand" in zoe.last().text
    await zoe.send("/invite")
    await zoe.press("Where do you vote?")
    await zoe.send("Xyzzyville")
    assert "No commune found" in zoe.last().text
    await zoe.send("Lyon")
    await zoe.press("Lyon (69")
    await zoe.send("12 bis !")
    assert "a few digits or letters" in zoe.last().text  # the proxy questions' own check
    await zoe.send("4")
    await zoe.send("/invite")
    assert "🗳 I vote at: polling station 4, Lyon (69) (change)" in zoe.last().button_texts()

    await zoe.send("/invite", in_chat=-100_555)  # in a group: not a word of it
    group = harness.fake.chat(-100_555)
    assert group and not any("I vote at" in b or "Where do you vote" in b
                             for m in group for b in m.button_texts())


async def test_forget_erases_where_one_votes_and_the_asks(db, campaign, harness, june):
    karim = harness.person(301, "Karim", "en")
    await joins_and_says_where(karim, "Saint-Denis", SAINT_DENIS, "12")
    nadia = harness.person(302, "Nadia", "en")
    await ask(nadia, NEED, "Saint-Denis", SAINT_DENIS, "12", "Both rounds")
    await a_day_later(harness, june)
    assert len(asks_in(karim)) == 1
    await karim.send("/forget")
    await karim.press("Yes, erase")
    async with db.read() as session:
        assert (await session.execute(select(ProxyAsk))).first() is None
        assert (await session.execute(select(User).where(
            User.vote_commune_insee.is_not(None)))).first() is None


async def test_the_evening_summary_names_the_departments_of_needs_waiting_two_days(
        db, campaign, harness, june):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    for uid, commune, pick in ((401, "Saint-Denis", SAINT_DENIS), (402, "93200", SAINT_DENIS),
                               (403, "Lyon", "Lyon (69")):
        await ask(harness.person(uid, f"P{uid}", "en"), NEED, commune, pick, "1",
                  "Premier tour")
    june.advance(hours=24)
    await ask(harness.person(404, "Late", "en"), NEED, "Lyon", "Lyon (69", "2",
              "Premier tour")
    june.advance(hours=32, minutes=30)  # 18:30 the day after: the evening summary
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    summary = next(m.text for m in reversed(organizer.chat()) if "Proxies today" in m.text)
    assert summary.endswith("Unmatched for more than 48 h: 93 — 2, 69 — 1")


"""Graduated trust as callers and organizers live it: a new caller's cards an hour, the
organizer's 🤝 Trust button, and trust that comes by itself after forty calls."""

from __future__ import annotations

import io

from sqlalchemy import select

from storage.contacts import import_contacts
from storage.models import User
from storage.users import decide_volunteer
from tests.conversation import ORGANIZER_ID, deliver
from tests.test_calling_conversation import numbers_in, ready_volunteer
from tests.test_practice_conversation import set_campaign


async def many_contacts(db, campaign, n: int = 80) -> None:
    """Fictional contacts in ARCEP's block for fiction (01 99 00 xx xx)."""
    rows = "".join(f"Contact{i};Test;01 99 00 {i // 100:02d} {i % 100:02d};;;;;\n"
                   for i in range(n))
    csv = ("prénom;nom;téléphone;circonscription;commune;code_postal;bureau_de_vote;tags\n"
           + rows).encode()
    await import_contacts(db, campaign, io.BytesIO(csv), source_label="test")


async def call_once(person, clock, minutes: float = 2.5) -> None:
    await person.send("/call")
    assert numbers_in(person), person.last().text
    clock.advance(minutes=minutes)  # a call takes a few minutes
    await person.press("Will vote")


async def trusted(db, user_id: int) -> bool:
    async with db.read() as s:
        return bool((await s.execute(select(User.trusted).where(User.id == user_id))).scalar_one())


async def test_the_21st_card_in_an_hour_is_refused_until_the_organizer_trusts(
        db, campaign, harness, frozen_clock):
    await many_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    for _ in range(20):
        await call_once(camille, frozen_clock)
    # 20 cards in 50 minutes: the 21st waits until the first of them is an hour old.
    await camille.send("/call")
    refusal = camille.last().text
    assert "You have had your 20 cards of the hour" in refusal
    assert "you can go on at 11:02" in refusal  # 08:02:30 UTC + 1 h, Paris time
    assert "after 40 calls without a pause" in refusal and "/ask" in refusal
    assert numbers_in(camille) == []

    await organizer.send("/volunteers")
    assert organizer.sees("Callers not yet trusted")
    listing = organizer.last()
    trust = next(b["callback_data"] for b in listing.buttons() if "Trust Camille" in b["text"])
    await organizer.press("🤝 Trust Camille")
    assert organizer.sees("Camille trusted by Orga")
    await deliver(harness)
    assert camille.sees("An organizer trusts you")
    await camille.send("/call")
    assert numbers_in(camille)  # the 21st card
    await organizer.press_data(trust, listing)  # a second press changes nothing
    assert organizer.sees("Camille is trusted already")


async def test_an_hour_later_the_cards_come_again(db, campaign, harness, frozen_clock):
    await many_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    for _ in range(20):
        await call_once(camille, frozen_clock)
    await camille.send("/call")
    assert camille.sees("cards of the hour")
    frozen_clock.advance(minutes=13)  # the first card of the hour is an hour old now
    await camille.send("/call")
    assert numbers_in(camille)


async def test_the_day_has_its_own_limit(db, campaign, harness, frozen_clock):
    await many_contacts(db, campaign)
    await set_campaign(db, campaign, calls_to_trust=100)
    camille = await ready_volunteer(db, harness)
    for _ in range(60):
        await call_once(camille, frozen_clock, minutes=3.2)  # under 20 an hour
    await camille.send("/call")
    assert camille.sees("You have had your 60 cards of the day")
    assert camille.sees("you can go on on 11/06 at 10:03")  # the first one, a day later
    assert not await trusted(db, 101)


async def test_forty_calls_without_a_pause_bring_trust(db, campaign, harness, frozen_clock):
    await many_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    for _ in range(39):
        await call_once(camille, frozen_clock, minutes=3.2)
    assert not await trusted(db, 101)
    await call_once(camille, frozen_clock, minutes=3.2)
    assert await trusted(db, 101)
    await deliver(harness)
    assert camille.sees("40 calls without a pause: thank you! You are a trusted caller")
    for _ in range(25):  # 25 cards in the hour now: no limit
        await call_once(camille, frozen_clock, minutes=1)
    assert not camille.sees("cards of the hour")


async def test_an_organizer_approves_and_trusts_in_one_tap(db, campaign, harness, frozen_clock):
    await many_contacts(db, campaign)
    camille = harness.person(101, "Camille", "en")
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await camille.send("/start")
    await camille.press("I want to make calls")
    await deliver(harness)
    assert "would like to make calls" in organizer.last().text
    await organizer.press("Approve and trust")
    assert organizer.sees("Camille approved and trusted by Orga")
    await deliver(harness)
    assert camille.sees("You are approved")
    assert not camille.sees("An organizer trusts you")  # one word, the approval's
    assert await trusted(db, 101)


async def test_the_approval_message_keeps_a_trust_button(db, campaign, harness, frozen_clock):
    camille = harness.person(101, "Camille", "en")
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await camille.send("/start")
    await camille.press("I want to make calls")
    await deliver(harness)
    await organizer.press("✅ Approve")
    assert "approved by Orga" in organizer.last().text
    assert organizer.last().button_texts() == ["🤝 Trust"]
    await organizer.press("🤝 Trust")
    assert organizer.sees("Camille trusted by Orga")
    assert await trusted(db, 101)


async def test_organizers_are_trusted(db, campaign, harness, frozen_clock):
    await many_contacts(db, campaign)
    await decide_volunteer(db, ORGANIZER_ID, True, actor_id=None)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await organizer.send("/call")  # practice is theirs to take or leave
    assert organizer.last().button_texts() == ["I'm ready: give me a contact",
                                               "🎓 A practice call"]
    await organizer.press("I'm ready")
    await organizer.press("Will vote")
    for _ in range(24):
        await call_once(organizer, frozen_clock)
    assert not organizer.sees("cards of the hour")

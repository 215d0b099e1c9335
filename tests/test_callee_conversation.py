"""A call becomes a supporter, as Lisa, Fabrice and an organizer live it: the link sent after
the call, the number gone from Lisa's chat, Fabrice welcomed, Lisa told, the organizers'
request "after a call with Lisa"."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.conversation import ORGANIZER_ID, deliver
from tests.test_calling_conversation import load_contacts, numbers_in, ready_volunteer
from tests.test_storage_wall import load_with_rounds

LINK = re.compile(r"t\.me/\w+\?start=(c_[A-Za-z0-9_-]+)")
FABRICE_NUMBER = "+33612345678"  # the example list's first target


@pytest.fixture
async def campaign(db, frozen_clock):
    """The example campaign with its rounds a few days ahead: links last until the last."""
    return await load_with_rounds(db)


def buttons_of(message) -> dict[str, dict]:
    return {b["text"]: b for b in message.buttons()}


async def lisa_sends_fabrice_the_link(db, campaign, harness):
    await load_contacts(db, campaign)
    lisa = await ready_volunteer(db, harness, 101, "Lisa", "en")
    await lisa.send("/call")
    assert FABRICE_NUMBER in lisa.last().text
    await lisa.press("Send Fabrice the link")
    ready = lisa.last()
    assert "A message for Fabrice" in ready.text
    buttons = buttons_of(ready)
    copied = buttons["📋 Copy the message"]["copy_text"]["text"]
    assert copied.startswith("Hello Fabrice, it's Lisa from Législatives 2024, thanks for our call")
    assert "Reply STOP" in copied and len(copied) <= 256
    assert "wa.me/33612345678?text=" in buttons["💬 Send it on WhatsApp"]["url"]
    return lisa, ready, LINK.search(copied).group(1)


async def test_lisa_calls_fabrice_who_joins_and_asks_to_call(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    lisa, ready, code = await lisa_sends_fabrice_the_link(db, campaign, harness)

    await lisa.press("Wants to volunteer")
    assert numbers_in(lisa) == []  # the card's number and the WhatsApp button's are gone
    after = next(m for m in lisa.chat() if m.message_id == ready.message_id)
    assert buttons_of(after)["💬 Send it on WhatsApp"]["url"].startswith("https://wa.me/?text=")
    assert LINK.search(buttons_of(after)["📋 Copy the message"]["copy_text"]["text"])

    await organizer.send("/volunteers")
    listed = organizer.last().text
    assert "Fabrice · +33612345678 · after a call with Lisa" in listed and "link sent" in listed

    fabrice = harness.person(202, "Fabrice", "en")
    await fabrice.send(f"/start {code}")
    assert fabrice.sees("Welcome Fabrice! Lisa called you earlier")
    assert fabrice.sees("your request is with the organizers")
    assert not fabrice.sees("Would you like to call supporters with us?")
    await deliver(harness)
    assert lisa.sees("Fabrice joined through you: 1 of 3!")
    assert organizer.sees("Fabrice would like to make calls (after a call with Lisa).")

    await organizer.send("/volunteers")
    assert "after a call with Lisa" not in organizer.last().text  # on Telegram now
    await organizer.send("/stats")
    assert organizer.sees("Calls that became supporters: 1 today, 1 in all")
    await organizer.send("/web")
    assert organizer.sees("Came after a call: 1 (1 today)")
    await lisa.send("/me")
    assert "1 of your calls joined on Telegram" in lisa.last().text


async def test_the_link_after_the_outcome_holds_no_number(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    lisa = await ready_volunteer(db, harness, 101, "Lisa", "en")
    await lisa.send("/call")
    await lisa.press("Will vote")
    await lisa.press("Send Fabrice the link")
    ready = lisa.last()
    assert "A message for Fabrice" in ready.text
    assert buttons_of(ready)["💬 Send it on WhatsApp"]["url"].startswith("https://wa.me/?text=")
    assert numbers_in(lisa) == []


async def test_two_people_opening_one_link_at_once_count_once(db, campaign, harness,
                                                             frozen_clock):
    lisa, _ready, code = await lisa_sends_fabrice_the_link(db, campaign, harness)
    await lisa.press("Will vote")
    fabrice, marc = harness.person(202, "Fabrice", "en"), harness.person(303, "Marc", "en")
    await asyncio.gather(fabrice.send(f"/start {code}"), marc.send(f"/start {code}"))
    welcomed = [p for p in (fabrice, marc) if p.sees("called you earlier")]
    assert len(welcomed) == 1
    assert all(p.sees(f"Hello {p.first_name}! 👋") for p in (fabrice, marc))
    await deliver(harness)
    assert len([m for m in lisa.chat() if "joined through you" in m.text]) == 1


async def test_expired_used_and_malformed_codes_get_the_plain_welcome(db, campaign, harness,
                                                                     frozen_clock):
    lisa, _ready, code = await lisa_sends_fabrice_the_link(db, campaign, harness)
    await lisa.press("Will vote")
    for n, payload in enumerate(("c_" + "x" * 16, "c_", "c_!!", code[:-1])):
        someone = harness.person(400 + n, "Zoé", "en")
        await someone.send(f"/start {payload}")
        assert someone.sees("Hello Zoé! 👋") and not someone.sees("called you earlier")
    fabrice = harness.person(202, "Fabrice", "en")
    await fabrice.send(f"/start {code}")
    assert fabrice.sees("Lisa called you earlier")
    late = harness.person(500, "Marc", "en")
    await late.send(f"/start {code}")  # used already
    assert late.sees("Hello Marc! 👋") and not late.sees("called you earlier")
    await lisa.press("Next call")
    await lisa.press("Send Élodie the link")
    elodie_code = LINK.search(buttons_of(lisa.last())["📋 Copy the message"]["copy_text"]
                              ["text"]).group(1)
    await lisa.press("Will vote")
    frozen_clock.advance(days=30)  # after the last round
    expired = harness.person(501, "Élodie", "en")
    await expired.send(f"/start {elodie_code}")
    assert expired.sees("Hello Élodie! 👋") and not expired.sees("called you earlier")
    await deliver(harness)
    assert len([m for m in lisa.chat() if "joined through you" in m.text]) == 1


async def test_a_group_chat_never_shows_a_number(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    lisa, _ready, _code = await lisa_sends_fabrice_the_link(db, campaign, harness)
    await lisa.press("Wants to volunteer")
    await organizer.send("/volunteers", in_chat=-100123)
    group = harness.fake.chat(-100123)
    assert group and not any(FABRICE_NUMBER in m.text for m in group)
    assert "private chat" in group[-1].text
    await organizer.send("/volunteers")
    assert FABRICE_NUMBER in organizer.last().text  # in private, for the follow-up call

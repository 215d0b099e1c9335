"""Vote proxies as supporters, volunteers and organizers live them, through the fake Bot API."""

from __future__ import annotations

from bot.app import build_deliverer
from bot.jobs import proxy_tick
from storage.models import PollingStation
from tests.conversation import ORGANIZER_ID
from tests.test_calling_conversation import load_contacts, ready_volunteer


async def deliver(harness) -> None:
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass


async def ask(person, kind: str, commune: str, pick: str, station: str, rounds: str,
              own: str | None = None) -> None:
    """The /proxy questions, answered as a person would."""
    await person.send("/proxy")
    await person.press(kind)
    await person.send(commune)
    await person.press(pick)
    await person.send(station)
    await person.press(rounds)
    if own is not None:
        await person.press(own)


async def test_a_need_and_an_offer_meet_accept_and_make_it_official(db, campaign, harness,
                                                                   frozen_clock):
    samir = harness.person(301, "Samir", "en", username="samir_sd")
    nadia = harness.person(302, "Nadia", "en")
    await ask(samir, "I can carry someone's vote", "Saint-Denis", "Saint-Denis (93", "12",
              "Both rounds", own="At that same polling station")
    assert samir.last().text.startswith("✅ Recorded. Thank you!")
    await ask(nadia, "I can't vote, I need someone", "93200", "Saint-Denis (93", "0012",
              "Both rounds")
    assert "We are looking for someone who can vote for you" in nadia.last().text
    await deliver(harness)
    assert "Samir can vote for you (Premier tour, Second tour) at your polling station 12" in \
        nadia.last().text
    assert "Nadia needs someone to vote for them" in samir.last().text
    assert not nadia.sees("@samir_sd")  # nothing shared before both say yes

    await nadia.press("Accept")
    await samir.press("Accept")
    assert samir.last().text.endswith("✅ Accepted.")
    await deliver(harness)
    await samir.press("Give my voter details")
    await samir.send("1234")
    assert "8 or 9 digits" in samir.last().text
    await samir.send("1234 5678")
    await samir.send("01/07/2010")
    assert "must be of age" in samir.last().text
    await samir.send("14/07/1985")
    assert "the details went to the person giving the proxy" in samir.last().text
    await deliver(harness)
    instructions = nadia.last().text
    assert "12345678" in instructions and "14/07/1985" in instructions
    assert "maprocuration.gouv.fr" in instructions and "@samir_sd" in instructions
    assert not any("12345678" in m.text for m in samir.chat()[:-3])  # only Nadia got them
    assert "You will vote for Nadia" in samir.last().text

    await nadia.press("Done, my proxy is registered")
    await deliver(harness)
    assert "Nadia's proxy is registered" in samir.last().text
    await nadia.send("/proxy")
    assert "registered" in nadia.last().text


async def test_mistakes_are_explained_and_nothing_is_half_saved(db, campaign, harness,
                                                              frozen_clock):
    async with db.write() as session:
        session.add(PollingStation(insee="93066", number="12", name="École Jean Vilar"))
    nadia = harness.person(302, "Nadia", "en")
    await nadia.send("/proxy")
    await nadia.press("I can't vote, I need someone")
    await nadia.send("Xyzzyville")
    assert "No commune found" in nadia.last().text
    await nadia.send("Saint-Denis")
    await nadia.press("Saint-Denis (93")
    await nadia.send("12 bis !")
    assert "a few digits or letters" in nadia.last().text
    await nadia.send("99")
    assert "no polling station with that number" in nadia.last().text
    await nadia.press("Cancel")
    assert nadia.sees("All right, nothing was recorded.")
    await nadia.send("12")  # the dialogue is over: an ordinary message now
    assert "didn't understand" in nadia.last().text


async def test_a_volunteer_records_a_proxy_need_from_the_phone(db, campaign, harness,
                                                              frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await camille.send("/call")
    await camille.press("Needs a vote proxy")
    assert "Let's record Fabrice's proxy request" in camille.last().text
    await camille.press("Saint-Denis (93")  # from the contact's postal code
    await camille.send("7")
    await camille.press("Premier tour")
    assert camille.last().text == "✅ Recorded: Fabrice needs someone to vote for them."

    samir = harness.person(301, "Samir", "en")
    await ask(samir, "I can carry someone's vote", "Saint-Denis", "Saint-Denis (93", "7",
              "Both rounds", own="At that same polling station")
    await deliver(harness)
    follow = organizer.last()
    assert "Fabrice (+33612345678) needs someone" in follow.text
    await organizer.press("Fabrice accepts")
    await samir.press("Accept")
    await deliver(harness)
    assert samir.last().text.startswith("🗳 Fabrice accepted too")

    stranger = harness.person(999, "Eve", "en")
    await stranger.send("/proxies")
    assert stranger.last().text == "Only organizers can do that."
    await organizer.send("/proxies")
    assert any("accepted: 1" in m.text for m in organizer.chat()[-3:])


async def test_a_decline_frees_the_need_for_another_holder(db, campaign, harness, frozen_clock):
    first, second = harness.person(301, "Samir", "en"), harness.person(303, "Lina", "en")
    nadia = harness.person(302, "Nadia", "en")
    await ask(first, "I can carry someone's vote", "Saint-Denis", "Saint-Denis (93", "12",
              "Both rounds", own="At that same polling station")
    await ask(nadia, "I can't vote, I need someone", "Saint-Denis", "Saint-Denis (93", "12",
              "Both rounds")
    await deliver(harness)
    await first.press("Decline")
    await ask(second, "I can carry someone's vote", "Saint-Denis", "Saint-Denis (93", "3",
              "Both rounds", own="At that same polling station")
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    assert "did not go ahead" in " ".join(m.text for m in nadia.chat())
    assert "Lina can vote for you" in nadia.last().text


async def test_reminders_until_registered_and_on_the_eve_of_the_round(db, campaign, harness,
                                                                     frozen_clock):
    from datetime import UTC, datetime

    frozen_clock.now = datetime(2024, 6, 26, 8, 0, tzinfo=UTC)  # 10:00 in Paris
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

    def count(person, text):
        return sum(text in m.text for m in person.chat())

    await proxy_tick(db, harness.dp["campaigns"])  # the same day: the steps just came
    await deliver(harness)
    assert count(nadia, "Your proxy: the last step") == 1
    frozen_clock.advance(days=1)
    await proxy_tick(db, harness.dp["campaigns"])
    await proxy_tick(db, harness.dp["campaigns"])  # twice in a day: one reminder
    await deliver(harness)
    assert count(nadia, "Your proxy: the last step") == 2
    await nadia.press("Done, my proxy is registered")
    frozen_clock.now = datetime(2024, 6, 29, 8, 0, tzinfo=UTC)  # the eve of round one
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    assert count(nadia, "Your proxy: the last step") == 2  # registered: no more
    assert count(samir, "Tomorrow you vote for Nadia: polling station 12") == 1
    frozen_clock.advance(hours=10)  # 20:00: the organizers' evening summary
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await proxy_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    # Samir carries Nadia's vote, the one round he offered: his is no offer waiting.
    assert count(organizer, "Proxies today: 0 needs and 0 offers waiting, 0 proposed, "
                            "0 accepted, 1 registered") == 1

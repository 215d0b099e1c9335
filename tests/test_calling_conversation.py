"""The phone bank as volunteers and organizers live it, through the fake Bot API."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from storage.contacts import import_contacts
from storage.models import Call, User
from storage.users import decide_volunteer, mark_trained
from tests.conftest import ROOT
from tests.conversation import ORGANIZER_ID, deliver

PHONE = re.compile(r"\+\d{8,15}")


async def load_contacts(db, campaign) -> None:
    with (ROOT / "examples" / "contacts.csv").open("rb") as f:
        await import_contacts(db, campaign, f, source_label="Primaire populaire 2022")


async def ready_volunteer(db, harness, user_id=101, name="Camille", lang="en"):
    await decide_volunteer(db, user_id, True, actor_id=ORGANIZER_ID)
    await mark_trained(db, user_id)
    return harness.person(user_id, name, lang)


WHATSAPP = re.compile(r"wa\.me/(\d{8,15})")


def numbers_in(person) -> list[str]:
    """Every number in the person's chat: in a message, a button's link (WhatsApp's holds
    it without its +) or a button's text to copy."""
    found = [n for m in person.chat() for n in PHONE.findall(m.text)]
    for button in (b for m in person.chat() for b in m.buttons()):
        found += WHATSAPP.findall(button.get("url", ""))
        found += PHONE.findall(str(button.get("copy_text", {}).get("text", "")))
    return found


async def test_newcomer_asks_is_approved_and_makes_a_first_call(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = harness.person(101, "Camille", "en", username="camille_b")
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")

    await camille.send("/start")
    assert camille.sees("Hello Camille")
    await camille.press("I want to make calls")
    await deliver(harness)
    assert camille.sees("Your request went to the organizers")
    assert "would like to make calls" in organizer.last().text
    assert "@camille_b" in organizer.last().text

    await organizer.press("Approve")
    assert "approved by Orga" in organizer.last().text
    await deliver(harness)
    assert camille.sees("You are approved")

    await camille.send("/call")
    assert "Before your first call" in camille.last().text
    assert "smile: it can be heard" in camille.last().text
    assert "je m'appelle Camille" in camille.last().text  # the script, to read beforehand
    assert numbers_in(camille) == []  # the training card comes first, no contact yet
    # The campaign asks for one practice call before real ones: a fictional contact.
    await camille.press("A practice call")
    practice = camille.last()
    assert "Practice call" in practice.text and "+3319900" in practice.text
    await camille.press("No answer")
    assert "Back in the queue in 2 hours, 3 tries at most" in card_after(camille, practice).text
    assert numbers_in(camille) == []
    await camille.press("My first real call")
    card = camille.last()
    assert "+33612345678" in card.text  # the first target constituency comes first
    assert "Fabrice" in card.text and "Seine-Saint-Denis 1" in card.text
    assert "Primaire populaire 2022" in card.text  # where the number comes from
    assert "Bonjour Fabrice, je m'appelle Camille" in card.text  # the script, filled in

    await camille.press("No answer")
    assert numbers_in(camille) == []  # the number is gone from the chat
    assert "Fabrice: 📵 No answer. Recorded" in card_after(camille, card).text

    await camille.press("Next call")
    assert "+33781234567" in camille.last().text  # Élodie, the second target


def card_after(person, card):
    return next(m for m in person.chat() if m.message_id == card.message_id)


async def test_someone_not_approved_gets_no_contact_data(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    stranger = harness.person(102, "Eve", "en")
    await stranger.send("/call")
    await stranger.send("📞 Next call")
    assert numbers_in(stranger) == []
    assert stranger.sees("Calls are made by approved volunteers")
    # Pressing a forged outcome or talking-point button reveals nothing either.
    volunteer = await ready_volunteer(db, harness)
    await volunteer.send("/call")
    card = volunteer.last()
    for button in card.buttons():
        await stranger.press_data(button["callback_data"], card)
    assert numbers_in(stranger) == []
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Call))).scalar_one() == 0


async def test_pressing_twice_or_an_old_card_records_once(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await camille.send("/call")
    card = camille.last()
    will_vote = next(b for b in card.buttons() if "Will vote" in b["text"])["callback_data"]
    await camille.press("Will vote")
    await camille.press_data(will_vote, card)  # the same press again
    assert "already recorded" in card_after(camille, card).text
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Call))).scalar_one() == 1


async def test_another_volunteers_card_records_nothing_and_says_so(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    bruno = await ready_volunteer(db, harness, 103, "Bruno")
    await camille.send("/call")
    camilles_card = camille.last()
    data = next(b for b in camilles_card.buttons() if "Will vote" in b["text"])["callback_data"]
    await bruno.press_data(data, camilles_card)
    assert bruno.sees("belongs to another volunteer")
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Call))).scalar_one() == 0
    assert "+33612345678" in camille.last().text  # Camille's card still stands


async def test_asking_again_gives_the_same_contact_and_one_card(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await camille.send("/call")
    await camille.send("/call")
    assert numbers_in(camille) == ["+33612345678"]  # one card on screen, the same contact


async def test_talking_point_and_call_back_later(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await camille.send("/call")
    await camille.press("Ma famille vote en face")
    assert "hausse du SMIC" in camille.last().text
    assert "+33612345678" in camille.last().text
    await camille.press("Call back later")
    assert "This evening" in camille.last().button_texts()
    await camille.press("This evening")
    assert numbers_in(camille) == []
    async with db.read() as s:
        assert (await s.execute(select(Call.outcome))).scalar_one() == "call_back"


async def test_calling_is_closed_at_night(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    frozen_clock.now = frozen_clock.now.replace(hour=20, minute=30)  # 22:30 in Paris
    await camille.send("/call")
    assert "Calling is closed now" in camille.last().text
    assert "09:00" in camille.last().text
    assert numbers_in(camille) == []


async def test_me_counts_my_calls_and_the_campaigns(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    for outcome in ("Will vote", "No answer", "Undecided"):
        await camille.send("/call")
        await camille.press(outcome)
    await camille.send("/me")
    text = camille.last().text
    assert "3 today, 3 in total" in text
    assert "3 calls today, 3 this morning" in text


async def test_french_is_the_default_language(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    marie = harness.person(104, "Marie", "de")
    await marie.send("/start")
    assert marie.sees("Bonjour Marie")
    camille = await ready_volunteer(db, harness, 105, "Camille", lang="fr")
    await camille.send("/call")
    assert "Vote" in " ".join(camille.last().button_texts())
    await camille.press("Pas de réponse")
    assert numbers_in(camille) == []


async def test_only_organizers_approve(db, campaign, harness, frozen_clock):
    await harness.person(ORGANIZER_ID, "Orga", "en").send("/start")
    eve = harness.person(106, "Eve", "en")
    mallory = harness.person(107, "Mallory", "en")
    await eve.send("/start")
    await eve.press("I want to make calls")
    await deliver(harness)
    organizer_card = harness.fake.last(ORGANIZER_ID)
    approve = next(b for b in organizer_card.buttons() if "Approve" in b["text"])
    await mallory.press_data(approve["callback_data"], organizer_card)
    assert any(a.get("text") == "Only organizers can do that." for a in mallory.callback_answers())
    async with db.read() as s:
        assert (await s.get(User, 106)).volunteer_status == "pending"
    await mallory.send("/volunteers")
    assert mallory.last().text == "Only organizers can do that."


async def test_too_many_skips_pause_the_volunteer_and_tell_organizers(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await harness.person(ORGANIZER_ID, "Orga", "en").send("/start")
    for _ in range(campaign.skip_limit_per_hour):
        await camille.send("/call")
        await camille.press("Skip")
    await deliver(harness)
    assert camille.sees("your calling is paused")
    assert "was paused" in harness.fake.last(ORGANIZER_ID).text
    await camille.send("/call")
    assert numbers_in(camille) == []
    await harness.person(ORGANIZER_ID, "Orga", "en").press("Resume")
    await camille.send("/call")
    assert len(numbers_in(camille)) == 1


async def test_forget_erases_the_person_but_keeps_the_campaigns_counts(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await camille.send("/call")
    await camille.press("Will vote")
    await camille.send("/call")  # holds a second card
    await camille.send("/forget")
    await camille.press("Yes, erase")
    assert camille.sees("your data is erased")
    assert numbers_in(camille) == []  # the card held on screen is gone too
    async with db.read() as s:
        assert await s.get(User, 101) is None
        volunteers = (await s.execute(select(Call.volunteer_id))).scalars().all()
    assert len(volunteers) == 1 and volunteers[0] < 0  # counted, anonymously
    bruno = await ready_volunteer(db, harness, 103, "Bruno")
    await bruno.send("/call")
    assert "+33781234567" in bruno.last().text  # the card Camille held is free again


async def test_call_in_a_group_shows_no_number(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    await ready_volunteer(db, harness)
    group = -100123
    await harness.feed({"update_id": 99_001, "message": {
        "message_id": 5, "date": 0, "text": "/call", "chat": {"id": group, "type": "supergroup",
                                                              "title": "Salle Saint-Denis"},
        "from": {"id": 101, "is_bot": False, "first_name": "Camille", "language_code": "en"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}})
    shown = harness.fake.chat(group)
    assert [m.text for m in shown] == ["Contacts are handed out in private: write /call to me directly."]
    async with db.read() as s:
        from storage.models import Contact
        assert (await s.execute(select(func.count()).where(Contact.held_by.is_not(None)))).scalar_one() == 0


async def test_a_double_tap_leaves_no_number_behind(db, campaign, harness, frozen_clock):
    import asyncio

    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await asyncio.gather(camille.send("/call"), camille.send("/call"))
    assert set(numbers_in(camille)) == {"+33612345678"}  # one contact, perhaps shown twice
    await camille.press("Will vote")
    assert numbers_in(camille) == []


async def test_asking_twice_to_call_alerts_the_organizers_once(db, campaign, harness, frozen_clock):
    await harness.person(ORGANIZER_ID, "Orga", "en").send("/start")
    eve = harness.person(106, "Eve", "en")
    await eve.send("/start")
    await eve.press("I want to make calls")
    await eve.press("I want to make calls")
    await deliver(harness)
    requests = [m for m in harness.fake.chat(ORGANIZER_ID) if "would like to make calls" in m.text]
    assert len(requests) == 1
    assert eve.sees("Your request is already with the organizers.")


async def test_todays_callers_are_ranked_and_anyone_can_step_out(db, campaign, harness,
                                                                frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    samir = await ready_volunteer(db, harness, 102, "Samir")
    ines = await ready_volunteer(db, harness, 104, "Inès")
    for caller, calls in ((camille, 3), (samir, 1), (ines, 1)):
        for _ in range(calls):
            await caller.send("/call")
            await caller.press("Will vote")

    await camille.send("/me")
    await camille.press("🏆 Today's callers")
    board = camille.last().text
    assert "🥇 Camille: 3\n🥈 Samir: 1\n🥈 Inès: 1" in board  # a tie shares the place
    assert "You are number 1 today, calls made: 3." in board

    await samir.send("/me")
    await samir.press("🏆 Today's callers")
    shown = samir.last()
    await samir.press("🙈 Leave me out of the rankings", shown)
    edited = next(m for m in samir.chat() if m.message_id == shown.message_id)
    assert "Samir" not in edited.text and "You are left out of the rankings." in edited.text
    await camille.send("/me")
    await camille.press("🏆 Today's callers")
    assert "Samir" not in camille.last().text
    await samir.press("👀 Show me in the rankings", edited)
    back = next(m for m in samir.chat() if m.message_id == shown.message_id)
    assert "🥈 Samir: 1" in back.text and "You are number 2 today, calls made: 1." in back.text

    # Someone who does not call sees no rankings, even with a forged button.
    eve = harness.person(103, "Eve", "en")
    await eve.send("/me")
    assert not eve.last().buttons()
    await eve.press_data("rank:show", eve.last())
    assert eve.callback_answers()[-1].get("text") == "The rankings are for the campaign's callers."
    assert all("Camille" not in m.text for m in eve.chat())

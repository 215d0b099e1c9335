"""The question relay (/ask): a volunteer's question reaches the organizers (their group, or
each of them), a reply comes back; only its author signs it; long texts never fail for their
length; only people the campaign knows may ask, five times an hour at most."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage.models import Outbox
from storage.relay import ask_organizers
from storage.users import set_organizer
from tests.conversation import ORGANIZER_ID, ORGANIZERS_GROUP
from tests.test_calling_conversation import load_contacts, ready_volunteer
from tests.test_organizers_conversation import deliver, open_shift
from tests.test_web_conversation import invite_code_of

SECOND_ORGANIZER = 901


async def ask(person, question: str) -> None:
    await person.send("/ask")
    await person.send(question)


def group_chat(harness):
    return harness.fake.chat(ORGANIZERS_GROUP)


def last_in_group(harness):
    return harness.fake.last(ORGANIZERS_GROUP)


def questions_in(messages) -> list:
    return [m for m in messages if m.text.startswith("❓")]


async def test_a_question_goes_to_each_organizer_and_the_answer_comes_back(
        db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    camille = await ready_volunteer(db, harness)
    await camille.send("/call")
    await camille.send("🙋 Ask the organizers")
    await camille.send("She asks about our position on pensions: what do I say?")
    assert camille.last().text.startswith("Sent to the organizers")
    await deliver(harness)
    question = organizer.last()
    assert "Camille asks (on the phone with Fabrice, Seine-Saint-Denis 1)" in question.text
    assert "+33" not in question.text  # never the number
    await organizer.send("Retirement at 60, full pension after 40 years.", reply_to=question)
    await deliver(harness)
    assert camille.last().text == ("💬 The organizers: Retirement at 60, full pension after "
                                   "40 years.")
    await organizer.press("Sign it with my name")
    assert camille.last().text.startswith("💬 Orga (organizer): Retirement at 60")


async def test_in_the_organizers_group_only_the_organizer_who_answered_signs_it(
        db, campaign, group_harness, frozen_clock):
    harness = group_harness
    await set_organizer(db, SECOND_ORGANIZER, True, actor_id=ORGANIZER_ID)
    orga, ines = harness.person(ORGANIZER_ID, "Orga", "en"), harness.person(
        SECOND_ORGANIZER, "Inès", "en")
    await ines.send("/start")
    camille = await ready_volunteer(db, harness)
    await ask(camille, "Can I call from home tonight?")
    await deliver(harness)
    question = last_in_group(harness)
    assert question.text.startswith("❓ Camille demande")
    assert not questions_in(orga.chat())  # the group, not each organizer

    await ines.send("Yes, until 21:00.", reply_to=question)
    await deliver(harness)
    answer = camille.last()
    assert answer.text == "💬 The organizers: Yes, until 21:00."
    sent_note = last_in_group(harness)
    assert "Sign it with my name" in " ".join(sent_note.button_texts())

    await orga.press("Sign it with my name", sent_note)  # not his answer
    assert orga.callback_answers()[-1]["text"] == (
        "Only the organizer who wrote this answer can sign it.")
    delivered = next(m for m in camille.chat() if m.message_id == answer.message_id)
    assert delivered.text == "💬 The organizers: Yes, until 21:00." and delivered.edits == 0

    sign_data = sent_note.buttons()[0]["callback_data"]
    await ines.press("Sign it with my name", sent_note)
    assert delivered.text == "💬 Inès (organizer): Yes, until 21:00."
    await ines.press_data(sign_data, sent_note)  # again: a stale button
    assert ines.callback_answers()[-1]["text"] == "Already signed."
    assert delivered.edits == 1


async def test_the_organizers_group_receives_questions_through_the_outbox(
        db, campaign, group_harness, frozen_clock):
    """The group is no person: it has no users row, yet its rows are delivered."""
    harness = group_harness
    orga = harness.person(ORGANIZER_ID, "Orga", "en")
    camille = await ready_volunteer(db, harness)
    await ask(camille, "Where are the flyers?")
    async with db.read() as session:
        rows = list((await session.execute(select(Outbox))).scalars())
    assert [(r.kind, r.chat_id) for r in rows] == [("relay_question", ORGANIZERS_GROUP)]
    assert not questions_in(group_chat(harness))  # queued, sent by the deliverer
    await deliver(harness)
    question = last_in_group(harness)
    assert "Where are the flyers?" in question.text
    async with db.read() as session:
        row = (await session.execute(select(Outbox))).scalar_one()
    assert row.status == "sent" and row.message_id == question.message_id
    await orga.send("In the blue box.", reply_to=question)
    await deliver(harness)
    assert camille.last().text == "💬 The organizers: In the blue box."


async def test_a_question_too_long_for_one_message_is_refused_with_its_count(
        db, campaign, group_harness, frozen_clock):
    harness = group_harness
    camille = await ready_volunteer(db, harness)
    await ask(camille, "x" * 4050)
    await deliver(harness)
    refusal = camille.last().text
    assert "too long" in refusal and "4050" in refusal, refusal
    assert not camille.sees("could be reached") and not camille.sees("could not be reached")
    assert not questions_in(group_chat(harness))
    room = int(re.search(r"at most (\d+)", refusal).group(1))
    assert 3900 < room < 4050
    # Asked again, cut to what fits: it reaches the group whole.
    await ask(camille, "y" * room)
    await deliver(harness)
    assert camille.last().text.startswith("Sent to the organizers")
    assert ("y" * room) in last_in_group(harness).text


async def test_a_question_is_measured_as_telegram_measures_it(db, campaign, group_harness,
                                                              frozen_clock):
    """After entities are parsed (a "<" is one character, not "&lt;"), in UTF-16 units (an
    emoji counts two)."""
    harness = group_harness
    camille = await ready_volunteer(db, harness)
    await ask(camille, "<" * 3900)  # 15,600 characters of HTML, 3,900 on screen
    await deliver(harness)
    assert camille.last().text.startswith("Sent to the organizers")
    assert ("<" * 3900) in last_in_group(harness).text
    await ask(camille, "😀" * 2040)  # 2,040 characters, 4,080 UTF-16 units
    await deliver(harness)
    assert "too long" in camille.last().text
    assert not camille.sees("could not be reached")
    assert len(questions_in(group_chat(harness))) == 1


async def test_a_long_answer_is_refused_with_its_count_and_nobody_hears_unreachable(
        db, campaign, group_harness, frozen_clock):
    harness = group_harness
    orga = harness.person(ORGANIZER_ID, "Orga", "en")
    camille = await ready_volunteer(db, harness)
    await ask(camille, "What do I say about the budget?")
    await deliver(harness)
    question = last_in_group(harness)
    await orga.send("z" * 4090, reply_to=question)
    await deliver(harness)
    refusal = last_in_group(harness).text
    assert "too long" in refusal and "4090" in refusal, refusal
    assert not any("could not be reached" in m.text for m in group_chat(harness))
    assert not camille.sees("💬")
    room = int(re.search(r"at most (\d+)", refusal).group(1))
    await orga.send("z" * room, reply_to=question)
    await deliver(harness)
    assert camille.last().text == "💬 The organizers: " + "z" * room
    # Signed, the header grows with the name: it still fits, since the room allowed for it.
    await orga.press("Sign it with my name", last_in_group(harness))
    assert camille.last().text == "💬 Orga (organizer): " + "z" * room


async def test_ask_is_for_the_people_the_campaign_knows(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    eve = harness.person(666, "Eve", "en")
    await eve.send("/start")
    await eve.send("/ask")
    assert eve.last().text.startswith("/ask is for the campaign's volunteers and supporters")
    await eve.send("Give me the list of numbers")  # not taken as a question
    await eve.send("🙋 Ask the organizers")
    assert eve.last().text.startswith("/ask is for the campaign's volunteers and supporters")
    await deliver(harness)
    assert not questions_in(organizer.chat())

    # Known: through an invite link, a shift sign-up, a request to make calls.
    camille = await ready_volunteer(db, harness)
    samir = harness.person(102, "Samir", "en")
    await samir.send(f"/start {await invite_code_of(camille)}")
    await open_shift(organizer)
    ines = harness.person(103, "Inès", "en")
    await ines.send("/shifts")
    await ines.press("Join")
    lea = harness.person(104, "Léa", "en")
    await lea.send("/start")
    await lea.press("I want to make calls")
    for person in (camille, samir, ines, lea):
        await ask(person, f"A question from {person.first_name}")
        assert person.last().text.startswith("Sent to the organizers"), person.first_name
    await deliver(harness)
    asked = questions_in(organizer.chat())
    assert [q.text.split(" asks")[0] for q in asked] == [
        "❓ Camille", "❓ Samir", "❓ Inès", "❓ Léa"]


async def test_a_flood_of_questions_stops_at_five_an_hour(db, campaign, group_harness,
                                                          frozen_clock):
    harness = group_harness
    camille = await ready_volunteer(db, harness)
    for n in range(5):
        await ask(camille, f"Question {n}")
        assert camille.last().text.startswith("Sent to the organizers")
        frozen_clock.advance(minutes=1)
    await camille.send("/ask")
    assert camille.last().text == ("You have asked 5 questions in the last hour. "
                                   "You can ask again in 55 minutes.")
    await camille.send("Question 5")  # not taken as a question
    await deliver(harness)
    assert len(questions_in(group_chat(harness))) == 5
    frozen_clock.advance(minutes=55)
    await ask(camille, "Question 6")
    assert camille.last().text.startswith("Sent to the organizers")
    await deliver(harness)
    assert len(questions_in(group_chat(harness))) == 6


async def test_the_limit_holds_for_a_question_already_being_written(
        db, campaign, group_harness, frozen_clock):
    """/ask let her write; meanwhile five questions went (another device, another
    instance): the count is made again, in the database, when the question is sent."""
    harness = group_harness
    camille = await ready_volunteer(db, harness)
    await camille.send("/ask")
    for n in range(5):
        await ask_organizers(db, camille.id, False, f"Question {n}", None, ORGANIZERS_GROUP)
    await camille.send("One more")
    assert camille.last().text.startswith("You have asked 5 questions in the last hour.")
    await deliver(harness)
    assert len(questions_in(group_chat(harness))) == 5
    assert "One more" not in " ".join(q.text for q in group_chat(harness))


async def test_an_answer_to_someone_who_erased_their_data_reaches_nobody_and_says_so(
        db, campaign, group_harness, frozen_clock):
    harness = group_harness
    orga = harness.person(ORGANIZER_ID, "Orga", "en")
    camille = await ready_volunteer(db, harness)
    await ask(camille, "Is there a meeting tonight?")
    await deliver(harness)
    question = last_in_group(harness)
    await camille.send("/forget")
    await camille.press("Yes, erase my data")
    before = len(camille.chat())
    await orga.send("Yes, at 19:00.", reply_to=question)
    await deliver(harness)
    assert last_in_group(harness).text == (
        "This person has erased their data since: your answer reaches nobody.")
    assert len(camille.chat()) == before


async def test_an_answer_to_someone_who_blocked_the_bot_says_it_cannot_reach_them(
        db, campaign, group_harness, frozen_clock):
    harness = group_harness
    orga = harness.person(ORGANIZER_ID, "Orga", "en")
    camille = await ready_volunteer(db, harness)
    await ask(camille, "Is there a meeting tonight?")
    await deliver(harness)
    question = last_in_group(harness)
    harness.fake.blocked.add(camille.id)
    await orga.send("Yes, at 19:00.", reply_to=question)
    sent_note = last_in_group(harness)
    assert sent_note.text == 'Sent, from "the organizers".'
    await deliver(harness)  # 403: marked unreachable, and the organizers are told
    async with db.read() as session:
        row = (await session.execute(select(Outbox).where(
            Outbox.kind == "relay_answer"))).scalar_one()
    assert row.status == "failed"
    assert last_in_group(harness).text == (  # the group's language: French
        "❗ Cette réponse ne lui est pas parvenue : cette personne a bloqué le bot.")
    await orga.press("Sign it with my name", sent_note)
    assert orga.callback_answers()[-1]["text"] == (
        "This answer did not reach them: they have blocked the bot.")
    # Known blocked now: the next answer says so at once, and nothing is queued.
    await orga.send("And bring a charger.", reply_to=question)
    assert last_in_group(harness).text == (
        "They have blocked the bot: this answer cannot reach them.")


async def test_a_question_not_yet_delivered_when_its_author_forgets_never_leaves(
        db, campaign, group_harness, frozen_clock):
    harness = group_harness
    camille = await ready_volunteer(db, harness)
    await ask(camille, "Camille here, 06 12 34 56 78: call me?")
    await camille.send("/forget")
    await camille.press("Yes, erase my data")
    await deliver(harness)
    assert not questions_in(group_chat(harness))


async def test_an_organizers_command_written_as_a_reply_is_still_answered(db, campaign,
                                                                         harness):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    welcome = organizer.last()
    await organizer.send("/web", reply_to=welcome)
    assert organizer.sees("spider's web")

"""Practice calls as a new volunteer lives them: before the first real card, and any time
with /practice; nothing of practice reaches the queue or any count."""

from __future__ import annotations

import phonenumbers
from sqlalchemy import func, select, update

from storage.models import Call, Campaign, Contact, DncHold, DoNotCall, Outbox, User
from storage.stats import organizer_stats
from storage.users import decide_volunteer
from storage.wall.figures import wall_figures
from tests.conversation import ORGANIZER_ID
from tests.test_calling_conversation import card_after, load_contacts, numbers_in, ready_volunteer


async def set_campaign(db, campaign, **values) -> None:
    async with db.write() as s:
        await s.execute(update(Campaign).where(Campaign.id == campaign.id).values(**values))


async def approved(db, harness, user_id=101, name="Camille"):
    await decide_volunteer(db, user_id, True, actor_id=ORGANIZER_ID)
    return harness.person(user_id, name, "en")


async def snapshot(db) -> dict[str, object]:
    """Everything practice must leave as it was: the queue, the call log, the lists, the
    messages queued, and every count read from them."""
    async with db.read() as s:
        contacts = (await s.execute(select(
            Contact.id, Contact.status, Contact.held_by, Contact.attempts, Contact.due_at,
            Contact.lease_seq, Contact.last_outcome, Contact.follow_up).order_by(
            Contact.id))).all()
        counts = {model.__name__: (await s.execute(
            select(func.count()).select_from(model))).scalar_one()
            for model in (Call, DoNotCall, DncHold, Outbox)}
        web = (await s.execute(select(User.id, User.recruits, User.generation).order_by(
            User.id))).all()
    return {"contacts": contacts, "counts": counts, "web": web}


async def test_a_new_volunteer_practises_then_makes_a_first_real_call(db, campaign, harness,
                                                                      frozen_clock):
    await load_contacts(db, campaign)
    # The explanations come from the campaign's own queue rules, not from the bot's code.
    await set_campaign(db, campaign, retry_delay_minutes=180, max_attempts=4)
    camille = await approved(db, harness)
    before = await snapshot(db)

    await camille.send("/call")
    assert "Before your first call" in camille.last().text
    assert [b["text"] for b in camille.last().buttons()] == ["🎓 A practice call"]
    await camille.press("A practice call")
    practice = camille.last()
    assert "Practice call" in practice.text
    assert "Bonjour" in practice.text and "je m'appelle Camille" in practice.text  # the script
    (number,) = numbers_in(camille)
    parsed = phonenumbers.parse(number)
    assert phonenumbers.is_valid_number(parsed)  # a real-looking number ...
    assert number.startswith("+3319900")  # ... in ARCEP's block for fiction
    labels = practice.button_texts()
    for outcome in ("Will vote", "No answer", "Voicemail", "Call back later", "Wrong number",
                    "Do not call again", "Skip this contact", "Needs a vote proxy"):
        assert any(outcome in label for label in labels), outcome
    assert any(label.startswith("💬") for label in labels)  # the talking points
    assert all(len(b["callback_data"].encode()) <= 64 for b in practice.buttons())

    await camille.press("💬")
    assert "💬" in card_after(camille, practice).text  # a talking point shows on the card
    await camille.press("No answer")
    told = card_after(camille, practice).text
    assert "Practice: 📵 No answer" in told
    assert "Back in the queue in 3 hours, 4 tries at most" in told
    assert numbers_in(camille) == []  # gone from the chat, as a real number would be
    assert await snapshot(db) == before  # nothing of it reached the queue or a count

    await camille.press("Another practice call")
    await camille.press("Do not call again")
    assert "Never called again, in every campaign" in camille.last().text
    assert await snapshot(db) == before

    await camille.press("My first real call")
    card = camille.last()
    assert "+33612345678" in card.text and "Fabrice" in card.text  # the real queue's first
    await camille.press("Will vote")
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Call))).scalar_one() == 1


async def test_practice_later_touches_nothing_whatever_is_pressed(db, campaign, harness,
                                                                  frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await camille.send("/call")  # a real card held meanwhile stays held, as it was
    real = camille.last()
    before = await snapshot(db)
    await camille.send("/me")
    me_before = camille.last().text
    figures_before = await wall_figures(db, campaign)
    stats_before = await organizer_stats(db, campaign)

    await camille.send("/practice")
    practice = camille.last()
    assert "Practice call" in practice.text
    for label in practice.button_texts():
        await camille.send("/practice")
        card = camille.last()
        await camille.press(label, card)
        if "Call back" in label:
            await camille.press("This evening", card_after(camille, card))
            assert "at the time you choose" in card_after(camille, card).text
    assert await snapshot(db) == before
    assert await wall_figures(db, campaign) == figures_before  # the wall
    assert await organizer_stats(db, campaign) == stats_before  # /stats
    await camille.send("/me")
    assert camille.last().text == me_before  # counts, ranking, streak
    assert "Fabrice" in card_after(camille, real).text  # the real card still stands
    async with db.read() as s:
        practised = (await s.execute(select(User.practice_calls).where(User.id == 101))).scalar_one()
    assert practised > 10  # counted for the person alone


async def test_practice_is_optional_when_the_campaign_asks_for_none(db, campaign, harness,
                                                                    frozen_clock):
    await load_contacts(db, campaign)
    await set_campaign(db, campaign, practice_calls_required=0)
    camille = await approved(db, harness)
    await camille.send("/call")
    assert camille.last().button_texts() == ["I'm ready: give me a contact", "🎓 A practice call"]
    await camille.press("I'm ready")
    assert "+33612345678" in camille.last().text


async def test_two_practice_calls_when_the_campaign_asks_for_two(db, campaign, harness,
                                                                 frozen_clock):
    await load_contacts(db, campaign)
    await set_campaign(db, campaign, practice_calls_required=2)
    camille = await approved(db, harness)
    await camille.send("/call")
    training = camille.last()
    await camille.press("A practice call")
    practice = camille.last()
    will_vote = next(b["callback_data"] for b in practice.buttons() if "Will vote" in b["text"])
    await camille.press("Will vote")
    await camille.press_data(will_vote, practice)  # a double tap counts once
    async with db.read() as s:
        assert (await s.execute(select(User.practice_calls).where(User.id == 101))).scalar_one() == 1
    assert "One more practice call before your first real one" in camille.last().text
    assert camille.last().button_texts() == ["🎓 Another practice call"]
    # An "I'm ready" from an older screen does not skip the practice asked for.
    await camille.press_data('call:ready', training)
    await camille.send("/call")
    assert numbers_in(camille) == []
    await camille.press("A practice call")
    await camille.press("Undecided")
    await camille.press("My first real call")
    assert "+33612345678" in camille.last().text


async def test_someone_waiting_for_approval_may_practise_but_not_call(db, campaign, harness,
                                                                      frozen_clock):
    await load_contacts(db, campaign)
    eve = harness.person(102, "Eve", "en")
    await eve.send("/practice")
    assert eve.sees("Practice calls are for the campaign's callers")
    await eve.send("/start")
    await eve.press("I want to make calls")
    await eve.send("/practice")
    await eve.press("No answer")
    assert "once an organizer approves you" in eve.last().text
    assert "My first real call" not in " ".join(eve.last().button_texts())

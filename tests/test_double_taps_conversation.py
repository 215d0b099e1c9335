"""Double taps: a toggle pressed twice on the same message (a slow phone, an impatient
thumb) answers politely. Telegram answers the second edit "message is not modified": that is
success, never "Sorry, something went wrong"."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import ProxyRequest
from storage.shifts import coming_shifts, roster
from storage.users import get_user
from tests.conversation import ORGANIZER_ID
from tests.test_calling_conversation import load_contacts, ready_volunteer
from tests.test_organizers_conversation import open_shift

SORRY = "Sorry, something went wrong"


def edits_refused(harness) -> list[str]:  # type: ignore[no-untyped-def]
    """The edits the fake answered "not modified": proof the double tap reached Telegram."""
    return [c.params["message_id"] for c in harness.fake.sent("editMessageText")
            + harness.fake.sent("editMessageReplyMarkup")]


def now_shows(person, shown):  # type: ignore[no-untyped-def]
    return next(m for m in person.chat() if m.message_id == shown.message_id)


async def test_a_double_tap_on_the_callers_rankings_toggle_in_me(db, campaign, harness,
                                                                 frozen_clock):
    samir = await ready_volunteer(db, harness, 102, "Samir")
    await samir.send("/me")
    await samir.press("🏆 Today's callers")
    shown = samir.last()
    hide = shown.buttons()[0]["callback_data"]
    await samir.press_data(hide, shown)
    await samir.press_data(hide, shown)  # the same, stale message: nothing more to change
    assert len(harness.fake.sent("editMessageText")) == 2
    assert not samir.sees(SORRY)
    assert samir.callback_answers()[-1]["text"] == "Already done: you are left out of the rankings."
    assert "You are left out of the rankings." in now_shows(samir, shown).text
    assert (await get_user(db, 102)).leaderboard_opt_out

    show = now_shows(samir, shown).buttons()[0]["callback_data"]
    shown_again = now_shows(samir, shown)
    await samir.press_data(show, shown_again)
    await samir.press_data(show, shown_again)
    assert not samir.sees(SORRY)
    assert samir.callback_answers()[-2]["text"] == "Done: you are in the rankings again."
    assert samir.callback_answers()[-1]["text"] == "Already done: you are in the rankings."
    assert not (await get_user(db, 102)).leaderboard_opt_out


async def test_a_double_tap_on_the_rankings_toggle_in_invite(db, campaign, harness,
                                                             frozen_clock):
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    await camille.send("/invite")
    shown = camille.last()
    hide = next(b["callback_data"] for b in shown.buttons() if "Leave me out" in b["text"])
    await camille.press_data(hide, shown)
    await camille.press_data(hide, shown)
    assert len(harness.fake.sent("editMessageText")) == 2
    assert not camille.sees(SORRY)
    assert camille.callback_answers()[-2]["text"] == "Done: you are left out of the rankings."
    assert camille.callback_answers()[-1]["text"] == (
        "Already done: you are left out of the rankings.")
    assert "Show me in the rankings" in now_shows(camille, shown).button_texts()[-1]


async def test_a_double_tap_on_a_pledge_cancel_and_on_join_and_leave(db, campaign, harness,
                                                                     frozen_clock):
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    await camille.send("/invite")
    await camille.press("remind 3 people to vote")
    asked = camille.last()
    cancel = asked.buttons()[0]["callback_data"]
    await camille.press_data(cancel, asked)
    await camille.press_data(cancel, asked)
    assert now_shows(camille, asked).text == "All right, no pledge for now."
    assert not camille.sees(SORRY)

    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await open_shift(organizer)
    await camille.send("/shifts")
    card = camille.last()
    join = card.buttons()[0]["callback_data"]
    await camille.press_data(join, card)
    await camille.press_data(join, card)
    assert camille.callback_answers()[-1]["text"] == "You are already in."
    leave = now_shows(camille, card).buttons()[0]["callback_data"]
    joined = now_shows(camille, card)
    await camille.press_data(leave, joined)
    await camille.press_data(leave, joined)
    assert camille.callback_answers()[-1]["text"] == (
        "Nothing to change: this shift is over, or you are not in it.")
    assert not camille.sees(SORRY)
    assert now_shows(camille, card).button_texts() == ["✋ Join"]
    assert await roster(db, 1) == []


async def test_an_edit_telegram_refuses_loses_nothing(db, campaign, harness, frozen_clock):
    """Any other refusal of the edit (the message too old to edit, 429 beyond the retries, a
    timeout): the choice is recorded, the person is answered, the bot carries on."""
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    await camille.send("/invite")
    harness.fake.fail("editMessageText", 400, description="Bad Request: message can't be edited")
    await camille.press("Leave me out of the rankings")
    assert (await get_user(db, 101)).leaderboard_opt_out
    assert camille.callback_answers()[-1]["text"] == "Done: you are left out of the rankings."
    assert not camille.sees(SORRY)


async def test_a_double_tap_on_open_this_shift_opens_one_and_says_so(db, campaign, harness,
                                                                      frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await open_shift(organizer)
    preview = next(m for m in organizer.chat() if m.text.startswith("✅ Shift opened:"))
    await organizer.press_data("nsh:confirm", preview)  # the second tap of a double tap
    assert organizer.callback_answers()[-1]["text"] == (
        "Nothing to do: this was settled already.")
    assert now_shows(organizer, preview).text.startswith("✅ Shift opened:")
    await organizer.press_data("nsh:cancel", preview)  # a stale Cancel does not undo it
    assert now_shows(organizer, preview).text.startswith("✅ Shift opened:")
    assert len(await coming_shifts(db)) == 1


async def test_a_triple_tap_on_an_outcome_keeps_the_card_where_it_is(db, campaign, harness,
                                                                     frozen_clock):
    await load_contacts(db, campaign)
    camille = await ready_volunteer(db, harness)
    await camille.send("/call")
    card = camille.last()
    no_answer = next(b["callback_data"] for b in card.buttons() if "No answer" in b["text"])
    for _ in range(3):  # on the same stale card, as a slow phone sends them
        await camille.press_data(no_answer, card)
    assert now_shows(camille, card).text == "This call was already recorded. Nothing changed."
    assert sum("already recorded" in m.text for m in camille.chat()) == 1
    assert not camille.sees(SORRY)


async def test_a_double_tap_in_the_proxy_questions_changes_no_answer(db, campaign, harness,
                                                                      frozen_clock):
    """A commune picked twice (the same stale list) is picked once: no "Sorry", and the
    second tap of the holder's own commune does not overwrite where they can vote."""
    samir = harness.person(301, "Samir", "en")
    await samir.send("/proxy")
    await samir.press("I can carry someone's vote")
    await samir.send("Saint-Denis")
    picks = samir.last()
    saint_denis = next(b["callback_data"] for b in picks.buttons() if "Saint-Denis (93" in b["text"])
    await samir.press_data(saint_denis, picks)
    await samir.press_data(saint_denis, picks)
    assert not samir.sees(SORRY)
    await samir.send("12")
    await samir.press("Both rounds")
    await samir.send("Lyon")
    own = samir.last()
    lyon = next(b["callback_data"] for b in own.buttons() if b["text"].startswith("Lyon (69"))
    await samir.press_data(lyon, own)
    await samir.press_data(lyon, own)  # must not take Lyon as where he can vote for someone
    assert samir.callback_answers()[-1].get("text") == "Already noted."
    await samir.send("305")
    assert samir.last().text.startswith("✅ Recorded. Thank you!")
    async with db.read() as session:
        request = (await session.execute(select(ProxyRequest))).scalars().one()
    assert (request.commune_insee, request.station) == ("93066", "12")
    assert (request.own_commune_insee, request.own_station) == ("69123", "305")
    assert not samir.sees(SORRY)

    await samir.send("/proxy")
    await samir.press("I can carry someone's vote")
    asked = samir.last()
    cancel = next(b["callback_data"] for b in asked.buttons() if b["text"] == "Cancel")
    await samir.press_data(cancel, asked)
    await samir.press_data(cancel, asked)
    assert now_shows(samir, asked).text == "All right, nothing was recorded."
    assert not samir.sees(SORRY)


async def test_a_double_tap_while_composing_a_broadcast(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await organizer.send("/broadcast")
    await organizer.send("Call of 18 June")
    who = organizer.last()
    everyone = next(b["callback_data"] for b in who.buttons() if b["text"] == "Everyone")
    await organizer.press_data(everyone, who)
    await organizer.press_data(everyone, who)
    assert not organizer.sees(SORRY)
    assert "people. Attach a shift's Join button?" in now_shows(organizer, who).text
    await organizer.send("/broadcast")
    await organizer.send("Call of 19 June")
    again = organizer.last()
    cancel = next(b["callback_data"] for b in again.buttons() if b["text"] == "Cancel")
    await organizer.press_data(cancel, again)
    await organizer.press_data(cancel, again)
    assert now_shows(organizer, again).text == "All right, nothing was sent."
    assert not organizer.sees(SORRY)

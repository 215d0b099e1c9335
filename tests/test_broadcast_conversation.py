"""Broadcasts where they meet shifts: audiences by room and by shift, a Join button that
fills the shift, a shift cancelled while its call goes out, the progress message."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import build_deliverer, progress_editor
from bot.jobs import broadcast_tick
from storage.models import Broadcast, Outbox
from storage.shifts import join_shift
from storage.shifts import roster as shift_roster
from storage.users import Profile, ensure_user
from tests.conversation import ORGANIZER_ID

ROOM = "Saint-Denis : salle 2 🎉"
LONG_ROOM = "Salle polyvalente Jean-Jaurès : étage 3☎"  # 40 characters, a colon among them
assert len(LONG_ROOM) == 40


async def deliver(harness) -> None:
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass


async def tick(harness) -> None:
    # Edits bounded to a second: a test's 429 or hang cuts them short.
    await broadcast_tick(harness.dp["db"], progress_editor(harness.dp, harness.bot),
                         edit_seconds=1.0)


async def open_shift(organizer, room: str, places: str, day: str = "11/06",
                     start: str = "14:00") -> None:
    await organizer.send("/newshift")
    for answer in (room, "6 rue de la République", f"{day} {start}", "17:00", places, "-"):
        await organizer.send(answer)
    await organizer.press("Open this shift")
    assert organizer.sees("✅ Shift opened:")


def assert_valid_buttons(message) -> None:
    """What Telegram itself accepts: callback data of at most 64 bytes."""
    for button in message.buttons():
        assert len(button["callback_data"].encode()) <= 64, button


async def compose(organizer, text: str, audience: str, join: str) -> None:
    await organizer.send("/broadcast")
    await organizer.send(text)
    assert organizer.last().text == "Who receives it?"
    assert_valid_buttons(organizer.last())
    await organizer.press(audience)
    assert "Attach a shift's Join button?" in organizer.last().text
    assert_valid_buttons(organizer.last())
    await organizer.press(join)


async def test_a_broadcast_to_a_rooms_people_fills_a_shift_from_its_join_button(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await open_shift(organizer, ROOM, "10", day="11/06")  # shift 1: those who came before
    await open_shift(organizer, LONG_ROOM, "5", day="11/06", start="15:00")  # shift 2
    await open_shift(organizer, ROOM, "2", day="12/06")  # shift 3: the one to fill
    regulars = [harness.person(300 + i, name, "en") for i, name in enumerate(
        ("Camille", "Samir", "Inès"))]
    for person in regulars:
        await person.send("/shifts")
        await person.press("Join", person.chat()[-3])  # shift 1
    outsider = harness.person(400, "Zoé", "en")
    await outsider.send("/shifts")
    await outsider.press("Join", outsider.chat()[-2])  # shift 2: not of the room

    await compose(organizer, "Saint-Denis needs you on Friday!", f"People of {ROOM}",
                  f"Join button: {ROOM} 12/06")
    preview = organizer.chat()[-2]
    assert preview.text.startswith("Saint-Denis needs you on Friday!")
    assert preview.button_texts() == ["✋ Join"]
    await organizer.press("Send now")
    assert organizer.last().text == "📣 Sending to 3 people…"
    await deliver(harness)
    await tick(harness)
    assert not outsider.sees("Saint-Denis needs you")
    calls = [next(m for m in p.chat() if m.text.startswith("Saint-Denis needs you"))
             for p in regulars]

    camille, samir, ines = regulars
    await camille.press("Join", calls[0])
    assert camille.callback_answers()[-1]["text"] == "✅ See you there!"
    assert camille.last().text.startswith("✅ See you there!")
    assert ROOM in camille.last().text and "12/06 14:00–17:00" in camille.last().text
    assert camille.last().button_texts() == ["Leave"]
    await camille.press("Join", calls[0])  # twice: once
    assert camille.callback_answers()[-1]["text"] == "You are already in."
    await samir.press("Join", calls[1])  # the last place
    assert samir.callback_answers()[-1]["text"] == (
        "✅ See you there! You took the last place: the shift is full.")
    assert "full" in samir.last().text
    await ines.press("Join", calls[2])
    assert ines.callback_answers()[-1]["text"] == "Sorry, this shift is full."
    assert not ines.sees("See you there")
    await deliver(harness)

    assert [p.first_name for p in await shift_roster(db, 3)] == ["Camille", "Samir"]
    await outsider.send("/shifts")
    assert "full" in outsider.chat()[-1].text  # shift 3, as everyone sees it now
    assert organizer.sees(f"The shift {ROOM} · 12/06 14:00–17:00 is full: 2 / 2.")
    status = next(m for m in organizer.chat() if m.text.startswith("📣"))
    assert status.text == "📣 Done: 3 / 3 sent, 0 unreachable."


async def test_a_broadcast_to_those_signed_up_for_a_big_shift(db, campaign, harness,
                                                              frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await open_shift(organizer, LONG_ROOM, "300")
    for uid in range(1000, 1250):
        await ensure_user(db, Profile(uid, f"P{uid}", language_code="en"))
        await join_shift(db, 1, uid)
    await compose(organizer, "Bring a charger tomorrow", f"Signed up: {LONG_ROOM} 11/06",
                  "No shift")
    await organizer.press("Send now")
    assert organizer.last().text == "📣 Sending to 250 people…"
    harness.dp["settings"].send_rate = 1000.0
    await deliver(harness)
    await tick(harness)
    async with db.read() as session:
        rows = (await session.execute(select(Outbox).where(Outbox.kind == "broadcast"))
                ).scalars().all()
    assert sorted(r.chat_id for r in rows if r.status == "sent") == list(range(1000, 1250))
    assert len(rows) == 250
    status = next(m for m in organizer.chat() if m.text.startswith("📣"))
    assert status.text == "📣 Done: 250 / 250 sent, 0 unreachable."


async def test_a_shift_cancelled_while_its_call_goes_out(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await open_shift(organizer, ROOM, "10")
    people = [harness.person(300 + i, f"P{i}", "en") for i in range(4)]
    for person in people:
        await person.send("/start")
    await compose(organizer, "Come on Thursday", "Everyone", f"Join button: {ROOM} 11/06")
    await organizer.press("Send now")

    # One message a round: the first two go, then the shift is cancelled.
    harness.dp["settings"].send_rate = 10.0
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    await deliverer.run_once()
    await deliverer.run_once()
    first = [p for p in people if p.sees("Come on Thursday")]
    assert first  # two went: the organizer may be one of them
    await organizer.send("/shifts")
    await organizer.press("🚫 Cancel the shift")
    await organizer.press("Yes, cancel it")
    await deliver(harness)

    for person in people:
        call = next(m for m in person.chat() if m.text.startswith("Come on Thursday"))
        if person in first:
            assert call.button_texts() == ["✋ Join"]
            await person.press("Join", call)  # a stale button, pressed after
            assert person.callback_answers()[-1]["text"] == "Sorry, this shift was cancelled."
        else:  # sent after the cancel: no button, and a word of why
            assert call.button_texts() == []
            assert "🚫 The shift Saint-Denis : salle 2 🎉 · 11/06 14:00–17:00 is cancelled." \
                in call.text
    assert await shift_roster(db, 1) == []


async def test_the_progress_message_failing_changes_nothing_of_the_broadcast(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    people = [harness.person(300 + i, f"P{i}", "en") for i in range(3)]
    for person in people:
        await person.send("/start")
    await compose(organizer, "Rally at 18:00", "Everyone", "No shift")
    await organizer.press("Send now")
    progress = organizer.last()
    cancel = progress.buttons()[0]["callback_data"]
    harness.fake.fail("editMessageText", 400, description="Bad Request: message to edit "
                      "not found")
    await tick(harness)  # still sending: the edit fails
    async with db.read() as session:
        assert (await session.get(Broadcast, 1)).status == "sending"
    await deliver(harness)
    # Flood control beyond the retries, then a timeout.
    for fault in (lambda: harness.fake.fail("editMessageText", 429, retry_after=2, times=6),
                  lambda: harness.fake.hang("editMessageText", 3.0)):
        harness.fake.faults.clear()
        fault()
        await tick(harness)  # done, whatever the edit does
        async with db.read() as session:
            assert (await session.get(Broadcast, 1)).status == "done"
    harness.fake.faults.clear()
    await tick(harness)  # the next tick shows the end it could not show before
    shown = next(m for m in organizer.chat() if m.message_id == progress.message_id)
    assert shown.text == "📣 Done: 4 / 4 sent, 0 unreachable." and shown.buttons() == []
    edits = shown.edits
    await tick(harness)  # and then leaves it alone
    assert shown.edits == edits
    await organizer.press_data(cancel, progress)  # a stale Cancel
    assert organizer.callback_answers()[-1]["text"] == "Already finished or cancelled."
    async with db.read() as session:
        rows = (await session.execute(select(Outbox))).scalars().all()
    assert {r.status for r in rows} == {"sent"} and len(rows) == 4


async def test_cancel_holds_until_the_last_row_is_done(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    people = [harness.person(300 + i, f"P{i}", "en") for i in range(3)]
    for person in people:
        await person.send("/start")
    await compose(organizer, "Rally at 18:00", "Everyone", "No shift")
    await organizer.press("Send now")
    progress = organizer.last()
    harness.dp["settings"].send_rate = 10.0  # one a round
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    for _ in range(3):
        await deliverer.run_once()
        await tick(harness)
        async with db.read() as session:
            assert (await session.get(Broadcast, 1)).status == "sending"
    # Three of four sent, one row left: Cancel still holds it.
    await organizer.press("Cancel", progress)
    assert organizer.callback_answers()[-1]["text"] == "Cancelled: nothing more will be sent."
    await deliver(harness)
    async with db.read() as session:
        rows = (await session.execute(select(Outbox))).scalars().all()
    assert sorted(r.status for r in rows) == ["sent", "sent", "sent", "skipped"]
    shown = next(m for m in organizer.chat() if m.message_id == progress.message_id)
    assert shown.text == "📣 Cancelled: 3 / 4 sent."


def test_the_broadcast_tick_needs_nothing_from_the_handlers(sqlite_template, tmp_path):
    """Run in a process of its own, the tick starts a broadcast and moves its progress
    through what it is given, without a module of handlers/ ever loaded."""
    import shutil
    import subprocess
    import sys

    path = tmp_path / "toile.db"
    shutil.copy(sqlite_template, path)
    script = f"""
import asyncio, sys
from bot.jobs import broadcast_tick
from storage.broadcasts import create_broadcast, progress, set_progress_message
from storage.database import Database
from storage.users import Profile, ensure_user

async def main():
    db = Database("sqlite+aiosqlite:///{path}")
    await ensure_user(db, Profile(501, "Camille"))
    b = await create_broadcast(db, text="Hi", visible_length=2, footer="-",
        audience_kind="everyone", audience_value=None, shift_id=None, scheduled_at=None,
        actor_id=None)
    await set_progress_message(db, b.id, 900, 1)
    edited = []
    async def edit(broadcast_id):
        edited.append(broadcast_id)
    await broadcast_tick(db, edit)
    assert edited == [b.id] and (await progress(db, b.id)).status == "sending"
    await db.dispose()

asyncio.run(main())
loaded = [m for m in sys.modules if m == "handlers" or m.startswith("handlers.")]
assert not loaded, loaded
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


async def a_call_to_everyone_ready_to_send(harness):
    """The organizer and two supporters; the organizer's "Send it?" of a call to all."""
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    for uid in (300, 301):
        await harness.person(uid, "Camille", "en").send("/start")
    await compose(organizer, "Come on Saturday!", "Everyone", "No shift")
    return organizer, organizer.last()


async def broadcasts_made(db) -> int:
    from sqlalchemy import func

    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Broadcast))).scalar()


async def test_a_second_tap_on_send_now_does_not_say_nothing_was_sent(
        db, campaign, harness, frozen_clock):
    """The organizer taps "Send now" again on the same "Send it?": one broadcast, and no
    word that nothing was sent while it is going out."""
    organizer, send_it = await a_call_to_everyone_ready_to_send(harness)
    assert send_it.text == "Send it?"
    await organizer.press("Send now", send_it)
    assert organizer.last().text.startswith("📣 Sending to")

    await organizer.press("Send now", send_it)

    broadcasts = await broadcasts_made(db)
    assert broadcasts == 1
    assert not organizer.sees("All right, nothing was sent.")
    assert "This draft is done" in organizer.callback_answers()[-1]["text"]


async def test_two_taps_at_once_on_send_now_make_one_broadcast(db, campaign, harness,
                                                               frozen_clock):
    """A slow network: both taps on "Send now" reach the bot, their answers come back
    together. One broadcast; Camille gets the message once."""
    import asyncio

    organizer, send_it = await a_call_to_everyone_ready_to_send(harness)
    harness.fake.hang("answerCallbackQuery", 0.3, times=2)

    await asyncio.gather(organizer.press("Send now", send_it),
                         organizer.press("Send now", send_it))

    broadcasts = await broadcasts_made(db)
    await tick(harness)
    await deliver(harness)
    camille = harness.person(300, "Camille", "en")
    received = [m for m in camille.chat() if m.text.startswith("Come on Saturday!")]
    assert broadcasts == 1 and len(received) == 1


async def test_a_call_to_a_shifts_people_scheduled_before_the_shift_was_cancelled(
        db, campaign, harness, frozen_clock):
    """A call to the people of Saturday's shift is scheduled for the morning; that evening
    the room is lost and the shift cancelled (Camille is told). In the morning the call
    does not go: it was for a shift that is off."""
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await open_shift(organizer, ROOM, "10")  # 11/06 14:00-17:00
    camille = harness.person(300, "Camille", "en")
    await camille.send("/shifts")
    await camille.press("Join")
    await compose(organizer, "Tomorrow 14:00: bring the flyers!", f"Signed up: {ROOM} 11/06",
                  "No shift")
    await organizer.press("Send later")
    await organizer.send("11/06 09:00")
    assert organizer.last().text.startswith("📣 Scheduled for 11/06 09:00: 1 people")
    frozen_clock.advance(hours=8)
    await organizer.send("/shifts")
    await organizer.press("🚫 Cancel the shift")
    await organizer.press("Yes, cancel it")
    await deliver(harness)
    assert camille.sees("cancelled")

    frozen_clock.advance(hours=15)  # 11/06 09:00 in Paris: the broadcast's time
    await tick(harness)
    await deliver(harness)

    assert not any(m.text.startswith("Tomorrow 14:00") for m in camille.chat())

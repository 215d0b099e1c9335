"""Organizers at work: shifts, broadcasts, /stats; and everyone else politely refused at
every organizer door. (The question relay has its own: test_relay_conversation.)"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlalchemy import select

from bot.app import build_deliverer, progress_editor
from bot.jobs import broadcast_tick, shift_reminders_tick
from storage.models import AuditLog, Outbox, Shift
from storage.shifts import join_shift
from storage.shifts import roster as shift_roster
from storage.users import get_user
from tests.conversation import ORGANIZER_ID
from tests.test_calling_conversation import load_contacts, ready_volunteer


async def deliver(harness) -> None:
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass


async def open_shift(organizer, room="Saint-Denis", places="2", day="11/06") -> None:
    await organizer.send("/newshift")
    for answer in (room, "6 rue de la République", f"{day} 14:00", "17:00", places, "-"):
        await organizer.send(answer)
    await organizer.press("Open this shift")


async def test_everyone_else_is_refused_at_every_organizer_door(db, campaign, harness,
                                                               frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await open_shift(organizer)
    eve = harness.person(666, "Eve", "en")
    for command in ("/broadcast", "/newshift", "/stats", "/proxies", "/web", "/volunteers"):
        await eve.send(command)
        assert eve.last().text == "Only organizers can do that.", command
    # Organizers' buttons, replayed by someone else: refused, and nothing happens.
    await organizer.send("/shifts")
    roster_data = next(b["callback_data"] for b in organizer.last().buttons()
                       if b["text"] == "Roster")
    for data in (roster_data, "bcx:1", f"att:1:{ORGANIZER_ID}:1", "nsh:confirm",
                 "bc:now::0", "bc:audience:everyone:0", "bc:later::0", "sign:1", "shx:1:0",
                 "shx:1:1"):
        await eve.press_data(data, organizer.last())
        assert eve.callback_answers()[-1].get("text") == "Only organizers can do that."
    async with db.read() as session:
        actions = [a.action for a in (await session.execute(select(AuditLog))).scalars()]
    assert actions == ["campaign.create", "organizers.add_from_config", "shifts.add"]


async def test_an_organizer_opens_a_shift_and_volunteers_fill_it(db, campaign, harness,
                                                                frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/newshift")
    await organizer.send("Saint-Denis")
    await organizer.send("6 rue de la République")
    await organizer.send("09/06 14:00")  # yesterday
    assert organizer.last().text == "That time has already passed."
    await organizer.send("11/06 14:00")
    await organizer.send("13:00")
    assert "end must come after the start" in organizer.last().text
    await organizer.send("17:00")
    await organizer.send("0")
    assert "whole number from 1 to 1000" in organizer.last().text
    await organizer.send("1")
    await organizer.send("Bring a charger")
    assert "11/06 14:00–17:00" in organizer.last().text  # the confirm step
    await organizer.press("Open this shift")
    assert organizer.sees("✅ Shift opened:")

    camille, samir = harness.person(101, "Camille", "en"), harness.person(102, "Samir", "en")
    await camille.send("/shifts")
    assert "1 places left" in camille.last().text and "Bring a charger" in camille.last().text
    await camille.press("Join")
    assert "full" in camille.last().text and camille.last().button_texts() == ["Leave"]
    await samir.send("/shifts")
    assert "full" in samir.last().text and samir.last().button_texts() == []
    await camille.press("Leave")
    await samir.send("/shifts")
    await samir.press("Join")
    assert samir.callback_answers()[-1]["text"] == (
        "✅ See you there! You took the last place: the shift is full.")

    # The day before from 11:00, "still coming?"; "No" frees the place.
    frozen_clock.now = frozen_clock.now.replace(hour=10)  # 12:00 in Paris, 10 June
    await shift_reminders_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    assert "Tomorrow's shift: still coming?" in samir.last().text
    await samir.press("No, free my place")
    await camille.send("/shifts")
    assert "1 places left" in camille.last().text


async def test_when_a_shift_is_over_the_organizers_mark_who_came_in_one_screen(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await open_shift(organizer, room="Lyon", places="3")
    people = [harness.person(101 + i, name, "en") for i, name in enumerate(
        ("Camille", "Samir", "Inès"))]
    for person in people:
        await person.send("/shifts")
        await person.press("Join")

    frozen_clock.now = frozen_clock.now.replace(day=11, hour=14)  # 16:00 in Paris: not yet
    await shift_reminders_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    assert not organizer.sees("Shift over")
    frozen_clock.advance(hours=1, minutes=5)  # 17:05: it ended at 17:00
    await shift_reminders_tick(db, harness.dp["campaigns"])
    await shift_reminders_tick(db, harness.dp["campaigns"])  # the next minute: not again
    await deliver(harness)
    screens = [m for m in organizer.chat() if m.text.startswith("🏁 Shift over")]
    assert len(screens) == 1
    screen = screens[0]
    assert screen.text.startswith("🏁 Shift over, who came? Lyon · 11/06 14:00–17:00")
    assert "· Camille" in screen.text and "0 came, 0 no-shows, 3 not marked yet." in screen.text

    await organizer.press("✅ Camille", screen)
    await organizer.press("✅ Inès", screen)
    await organizer.press("❌ Samir", screen)
    # The same message, edited in place with each mark.
    marked = next(m for m in organizer.chat() if m.message_id == screen.message_id)
    assert marked.text.startswith("🏁 Shift over, who came? Lyon")
    assert "✅ Camille" in marked.text and "❌ Samir" in marked.text
    assert "2 came, 1 no-shows, 0 not marked yet." in marked.text
    async with db.read() as session:
        audited = (await session.execute(select(AuditLog).where(
            AuditLog.action == "shifts.attendance"))).scalars().all()
    assert len(audited) == 3 and all(a.actor_id == ORGANIZER_ID for a in audited)

    # Samir and Inès join the next shift: its roster shows Samir missed one before.
    await open_shift(organizer, room="Marseille", day="13/06")
    for person in people[1:]:
        await person.send("/shifts")
        await person.press("Join")
    await organizer.send("/shifts")
    await organizer.press("Roster")
    roster = organizer.last().text
    assert "· Samir (no-shows at other shifts: 1)" in roster
    assert "· Inès\n" in roster and "Camille" not in roster


async def test_an_organizer_cancels_a_shift_and_those_signed_up_are_told(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await open_shift(organizer, room="Marseille")
    camille = harness.person(101, "Camille", "en")
    await camille.send("/shifts")
    await camille.press("Join")

    await organizer.send("/shifts")
    await organizer.press("🚫 Cancel the shift")
    confirm = organizer.last()
    assert confirm.text.startswith("Cancel this shift? Those signed up (1) will be told.")
    yes = confirm.buttons()[0]["callback_data"]
    await organizer.press("Yes, cancel it", confirm)
    assert organizer.last().text == "🚫 Shift cancelled; those signed up (1) will be told."
    await organizer.press_data(yes, confirm)  # a second tap, or a second organizer
    assert organizer.last().text == "This shift is over or cancelled already."
    await deliver(harness)
    assert camille.last().text == ("🚫 The shift Marseille · 11/06 14:00–17:00 is cancelled. "
                                   "Sorry! /shifts shows the others.")
    await camille.send("/shifts")
    assert camille.last().text == "No shift is planned yet."
    async with db.read() as session:
        actions = [a.action for a in (await session.execute(select(AuditLog))).scalars()]
    assert actions == ["campaign.create", "organizers.add_from_config", "shifts.add",
                       "shifts.cancel"]


async def test_a_broadcast_reaches_everyone_once_and_honours_stop(db, campaign, harness,
                                                                 frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    people = [harness.person(200 + i, f"P{i}", "en") for i in range(30)]
    for person in people:
        await person.send("/start")
    await people[0].send("/stop")
    harness.fake.blocked.add(people[1].id)

    await organizer.send("/broadcast")
    await organizer.send("x" * 4090)
    assert organizer.last().text.startswith("Too long: ")
    assert re.search(r"Too long: \d{4} characters", organizer.last().text)
    await organizer.send("<b>Call of 18 June</b>: the rooms are open all day!")
    await organizer.press("Everyone")
    await organizer.press("No shift")
    preview = organizer.chat()[-2]
    assert "Call of 18 June" in preview.text
    assert "— Législatives 2024 · /stop: no more messages" in preview.text
    await organizer.press("Send now")
    assert organizer.last().text == "📣 Sending to 30 people…"  # 29 people + the organizer
    harness.fake.flood_every = 12  # Telegram pushes back now and then while it goes out
    await deliver(harness)
    harness.fake.flood_every = 0
    await broadcast_tick(db, progress_editor(harness.dp, harness.bot))

    for person in people[2:]:
        got = [m for m in person.chat() if "Call of 18 June" in m.text]
        assert len(got) == 1, person.first_name
    assert not any("Call of 18 June" in m.text for m in people[0].chat())  # /stop
    assert (await get_user(db, people[1].id)).blocked  # 403: marked unreachable
    status = next(m for m in organizer.chat() if m.text.startswith("📣"))
    assert status.text == "📣 Done: 29 / 30 sent, 1 unreachable."
    assert status.buttons() == []  # nothing left to cancel


async def test_a_stop_and_a_cancel_pressed_while_a_broadcast_goes_out_hold_at_once(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    people = [harness.person(200 + i, f"P{i}", "en") for i in range(30)]
    for person in people:
        await person.send("/start")
    await organizer.send("/broadcast")
    await organizer.send("Call of 18 June")
    await organizer.press("Everyone")
    await organizer.press("No shift")
    await organizer.press("Send now")
    progress = organizer.last()
    await broadcast_tick(db, progress_editor(harness.dp, harness.bot))

    before = len(harness.fake.sent("sendMessage"))  # the organizer's preview among them

    def received() -> list[int]:
        return [c.params["chat_id"] for c in harness.fake.sent("sendMessage")[before:]
                if "Call of 18 June" in str(c.params.get("text", ""))]

    arrived = asyncio.Condition()
    send = harness.fake.api_sendMessage

    async def noticed_send(params):  # type: ignore[no-untyped-def]
        result = await send(params)
        async with arrived:
            arrived.notify_all()
        return result

    harness.fake.api_sendMessage = noticed_send

    async def until_received(count: int) -> None:
        async with arrived:
            await arrived.wait_for(lambda: len(received()) >= count)

    # One round holds everyone (a second's worth at 40 a second): all are claimed, and
    # their language read, before the first message leaves.
    harness.dp["settings"].send_rate = 40.0
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    deliverer.ROUND_SECONDS = 1.0
    sending = asyncio.create_task(deliverer.run_once())
    await asyncio.wait_for(until_received(5), timeout=10)
    # Five places down the line (an eighth of a second at this pace; the next one or two
    # may already be on their way): they unsubscribe.
    latecomer = [p for p in people if p.id not in received()][5]
    await latecomer.send("/stop")
    await asyncio.wait_for(until_received(15), timeout=10)
    await organizer.press("Cancel", progress)
    at_cancel = len(received())
    await asyncio.wait_for(sending, timeout=10)

    assert latecomer.id not in received()
    assert len(received()) <= at_cancel + 2  # at most what was already on its way
    assert len(set(received())) == len(received())
    async with db.read() as session:
        outcome = sorted((o.status, o.error or "") for o in (await session.execute(
            select(Outbox).where(Outbox.kind == "broadcast"))).scalars())
    assert len(outcome) == 31  # the 30 and the organizer
    assert outcome.count(("sent", "")) == len(received())
    assert outcome.count(("skipped", "unreachable or unsubscribed")) == 1
    assert outcome.count(("skipped", "cancelled")) == 31 - len(received()) - 1


async def test_a_scheduled_broadcast_survives_a_restart_and_can_be_cancelled(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    for text in ("First call", "Second call"):
        await organizer.send("/broadcast")
        await organizer.send(text)
        await organizer.press("Everyone")
        await organizer.press("No shift")
        await organizer.press("Send later")
        await organizer.send("09/06 18:00")
        assert organizer.last().text == "That time has already passed."
        await organizer.send("10/06 18:00")
        assert organizer.last().text.startswith("📣 Scheduled for 10/06 18:00")
    second = organizer.last()
    await organizer.press("Cancel", second)
    await organizer.press_data(second.buttons()[0]["callback_data"] if second.buttons()
                               else "bcx:2", second)  # a second organizer's tap: too late
    assert organizer.callback_answers()[-1]["text"] == "Already finished or cancelled."

    # The bot restarts: a new deliverer, the same database. At 18:00 the first goes out.
    frozen_clock.advance(hours=8, minutes=1)  # 18:01 in Paris
    await broadcast_tick(db, progress_editor(harness.dp, harness.bot))
    await deliver(harness)
    assert [m.text.split("\n")[0] for m in camille.chat()
            if m.text.endswith("/stop: no more messages")] == ["First call"]
    async with db.read() as session:
        keys = [o.key for o in (await session.execute(select(Outbox))).scalars()]
    assert all(k.startswith("broadcast:1:") for k in keys)


async def test_stats_for_the_wall(db, campaign, harness, frozen_clock):
    await load_contacts(db, campaign)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    async with db.write() as session:
        session.add(Shift(room="Lyon", starts_at=frozen_clock.now - timedelta(hours=1),
                          ends_at=frozen_clock.now + timedelta(hours=3), capacity=10))
    camille = await ready_volunteer(db, harness)
    samir = await ready_volunteer(db, harness, 102, "Samir")

    await join_shift(db, 1, camille.id)
    for volunteer, outcome in ((camille, "Will vote"), (camille, "No answer"),
                               (samir, "Not interested")):
        await volunteer.send("/call")
        await volunteer.press(outcome)
    await organizer.send("/stats")
    summary, photo = organizer.chat()[-2:]
    assert "Today: 3 calls (3 this morning, 0 this afternoon)" in summary.text
    assert "By room: Lyon 2, remote 1" in summary.text
    assert "Volunteers active now: 2" in summary.text
    assert photo.text.startswith("[photo] Calls per hour today, by room")


async def test_a_volunteer_is_thanked_at_milestones_and_sees_their_streak(db, campaign,
                                                                         harness, frozen_clock):
    from storage.contacts import import_contacts

    rows = "prenom;telephone;circonscription\n" + "".join(
        f"P{i};06 12 34 {i // 100:02d} {i % 100:02d};Rhône 3\n" for i in range(30))
    import io

    await import_contacts(db, campaign, io.BytesIO(rows.encode()))
    camille = await ready_volunteer(db, harness)
    for day in range(2):
        for _call in range(5):
            await camille.send("/call")
            await camille.press("Will vote")
        if day == 0:
            assert not camille.sees("call number")
            frozen_clock.advance(days=1)
    assert camille.sees("🎉 That was your call number 10! Thank you, Camille")
    await camille.send("/me")
    assert "🔥 2 days in a row of calls" in camille.last().text


def test_the_time_left_of_a_broadcast_follows_its_actual_pace(frozen_clock):
    from handlers.broadcast import progress_text
    from storage.broadcasts import Progress
    from ui.i18n import make_i18n

    def halfway(seconds: int, done: int) -> Progress:
        return Progress(1, "sending", 70_000, done, 0, 0,
                        frozen_clock.now - timedelta(seconds=seconds), None, None)

    i18n = make_i18n()
    with i18n.context(), i18n.use_locale("en"):
        # 10,000 in 10 s: 1,000 a second (paid), so 60,000 more take a minute.
        assert progress_text(halfway(10, 10_000)).endswith("about 1 min left")
        # 1,500 in a minute: Telegram's free 25 a second, 68,500 more take 46 minutes.
        assert progress_text(halfway(60, 1_500)).endswith("about 46 min left")
        assert progress_text(halfway(1, 0)).endswith("about 47 min left")  # no pace yet


async def test_after_a_shift_volunteers_say_whether_they_came_and_organizers_marks_stand(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await open_shift(organizer, room="Lyon", places="4")
    camille, samir, ines = people = [harness.person(101 + i, name, "en") for i, name in
                                     enumerate(("Camille", "Samir", "Inès"))]
    for person in people:
        await person.send("/shifts")
        await person.press("Join")
    assert await join_shift(db, 1, ORGANIZER_ID)  # an organizer calls in it too

    frozen_clock.now = frozen_clock.now.replace(day=11, hour=15, minute=5)  # 17:05 in Paris
    await shift_reminders_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    question = "🏁 The shift Lyon · 11/06 14:00–17:00 is over. Did you make it?"
    assert all(person.last().text == question for person in people)
    assert not organizer.sees(question)  # the roster is where an organizer marks it
    screen = next(m for m in organizer.chat() if m.text.startswith("🏁 Shift over"))
    await organizer.press("❌ Samir", screen)  # the organizer saw he was not there

    asked = camille.last()
    came = next(b["callback_data"] for b in asked.buttons() if b["text"] == "✅ I came")
    await camille.press("✅ I came")
    assert camille.callback_answers()[-1]["text"] == "🙏 Thank you for coming!"
    answered = next(m for m in camille.chat() if m.message_id == asked.message_id)
    assert answered.text.endswith("🙏 Thank you for coming!") and not answered.buttons()
    await ines.press("❌ I couldn't come")
    await samir.press("✅ I came")  # the organizer's mark stands
    assert samir.callback_answers()[-1]["text"] == "Already noted."
    await camille.press_data(came, answered)  # twice (a replayed press): once
    assert camille.callback_answers()[-1]["text"] == "Already noted."

    roster = await shift_roster(db, 1)
    assert {p.first_name: p.status for p in roster} == {
        "Camille": "attended", "Samir": "no_show", "Inès": "no_show", "Orga": "joined"}


async def camille_joins_a_shift_in_lyon(harness):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await open_shift(organizer, room="Lyon")
    camille = harness.person(101, "Camille", "en")
    await camille.send("/shifts")
    await camille.press("Join")
    return organizer, camille


async def test_someone_who_never_answers_is_asked_once_and_stale_buttons_change_nothing(
        db, campaign, harness, frozen_clock):
    _organizer, camille = await camille_joins_a_shift_in_lyon(harness)
    frozen_clock.now = frozen_clock.now.replace(hour=10)  # 12:00 the day before
    await shift_reminders_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    still_coming = camille.last()
    assert still_coming.text.startswith("📅 Tomorrow's shift: still coming?")

    frozen_clock.now = frozen_clock.now.replace(day=11, hour=15, minute=5)  # over
    for _ in range(5):  # five ticks, a minute apart
        await shift_reminders_tick(db, harness.dp["campaigns"])
        await deliver(harness)
        frozen_clock.advance(minutes=1)
    question = "🏁 The shift Lyon · 11/06 14:00–17:00 is over. Did you make it?"
    assert sum(m.text == question for m in camille.chat()) == 1

    # Yesterday's "No, free my place" and a forged Leave, pressed after the shift: she
    # stays on the roster, to be counted.
    await camille.press("No, free my place", still_coming)
    await camille.press_data("sh:leave:1", camille.last())
    assert camille.callback_answers()[-1]["text"] == (
        "Nothing to change: this shift is over, or you are not in it.")
    await camille.press_data("sh:bogus:1", camille.last())  # an unknown action: nothing
    assert (await shift_roster(db, 1))[0].status == "joined"


async def test_nobody_says_they_came_to_a_cancelled_shift(db, campaign, harness, frozen_clock):
    organizer, camille = await camille_joins_a_shift_in_lyon(harness)
    await organizer.send("/shifts")
    await organizer.press("🚫 Cancel the shift")
    await organizer.press("Yes, cancel it")
    frozen_clock.now = frozen_clock.now.replace(day=11, hour=15, minute=5)  # its end, passed
    await shift_reminders_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    assert not camille.sees("Did you make it?")
    await camille.press_data("sh:came:1", camille.last())  # forged
    assert camille.callback_answers()[-1]["text"] == "Already noted."
    assert (await shift_roster(db, 1))[0].status == "joined"


async def test_nobody_says_they_came_to_a_shift_not_over(db, campaign, harness, frozen_clock):
    _organizer, camille = await camille_joins_a_shift_in_lyon(harness)
    await camille.press_data("sh:came:1", camille.last())  # a forged button, before the end
    assert camille.callback_answers()[-1]["text"] == "Already noted."
    assert (await shift_roster(db, 1))[0].status == "joined"

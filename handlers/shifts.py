"""/shifts for volunteers (join, leave), /newshift and the roster for organizers, and the
shift reminders the deliverer sends."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from datetime import datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.doors import organizer_router, personal_data_router
from storage import clock
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Campaign, Shift
from storage.outbox import Delivery, NoticeKind
from storage.shifts import (
    Joined,
    ShiftError,
    ShiftView,
    add_shift,
    answer_still_coming,
    cancel_shift,
    coming_shifts,
    confirm_own_attendance,
    join_shift,
    leave_shift,
    mark_attendance,
    my_shifts,
    roster,
    shift_view,
    signed_up,
)
from storage.users import Person
from ui.notify import acknowledge, edit_in_place
from ui.renderers import Renderers

DATA = "newshift"


class ShiftCB(CallbackData, prefix="sh"):
    action: str  # join | call_join (from a broadcast) | leave | yes | no | came | missed
    shift: int


class RosterCB(CallbackData, prefix="shr"):
    """An organizer's: who signed up (names)."""

    shift: int


class ShiftCancelCB(CallbackData, prefix="shx"):
    """An organizer's: cancel the shift, then confirm."""

    shift: int
    confirmed: bool = False


class AttendanceCB(CallbackData, prefix="att"):
    shift: int
    user: int
    came: bool


class RosterPageCB(CallbackData, prefix="shp"):
    """An organizer's: another page of a shift's roster, in place."""

    shift: int
    page: int  # from 0


# People a roster page: 40 buttons and about 2,500 characters at most, with the longest
# names Telegram allows (64), well within its 100 buttons, 10 KB of markup and 4,096
# characters a message. A shift may take 1,000.
ROSTER_PAGE = 20
BUTTON_NAME = 24  # characters of a name on a ✅/❌ button


class NewShiftCB(CallbackData, prefix="nsh"):
    action: str  # confirm | cancel


class NewShift(StatesGroup):
    room = State()
    address = State()
    start = State()
    end = State()
    capacity = State()
    note = State()
    confirm = State()


def _error(reason: str) -> str:
    return {
        "past": _("That time has already passed."),
        "order": _("The end must come after the start, on the same day or night."),
        "capacity": _("The number of places is a whole number from 1 to 1000."),
        "text": _("That is too long (300 characters at most)."),
        "full": _("Sorry, this shift is full."),
        "cancelled": _("Sorry, this shift was cancelled."),
        "missing": _("This shift no longer exists."),
        "when": _("Please write a date and time such as 18/06 14:00."),
    }[reason]


def _local(campaign: Campaign | None, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(campaign.timezone if campaign else "Europe/Paris"))


def where_and_when(view: ShiftView, campaign: Campaign | None) -> str:
    shift = view.shift
    start, end = _local(campaign, shift.starts_at), _local(campaign, shift.ends_at)
    room = _("remote") if shift.room.lower() in ("remote", "à distance") else escape(shift.room)
    return f"<b>{room}</b> · {start:%d/%m %H:%M}–{end:%H:%M}"


def describe(view: ShiftView, campaign: Campaign | None) -> str:
    shift = view.shift
    places = (_("full") if view.left == 0 else _("{n} places left").format(n=view.left))
    text = f"{where_and_when(view, campaign)} · {places}"
    if shift.address:
        text += "\n" + escape(shift.address)
    if shift.note:
        text += "\n<i>" + escape(shift.note) + "</i>"
    return text


def join_keyboard(view: ShiftView, joined: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if joined:
        builder.button(text=_("Leave"), callback_data=ShiftCB(action="leave",
                                                              shift=view.shift.id or 0))
    elif view.left > 0:
        builder.button(text=_("✋ Join"), callback_data=ShiftCB(action="join",
                                                               shift=view.shift.id or 0))
    return builder.as_markup()


async def shifts_command(message: Message, db: Database, campaigns: CampaignCache,
                         user: Person, is_organizer: bool) -> None:
    views = await coming_shifts(db)
    campaign = await campaigns.get()
    if not views:
        await message.answer(_("No shift is planned yet."))
        return
    await message.answer(_("📅 <b>Coming shifts</b>"))
    mine = set(await my_shifts(db, user.id))
    for view in views:
        markup = join_keyboard(view, view.shift.id in mine)
        if is_organizer:
            markup.inline_keyboard.append([
                InlineKeyboardButton(text=_("Roster"), callback_data=RosterCB(
                    shift=view.shift.id or 0).pack()),
                InlineKeyboardButton(text=_("🚫 Cancel the shift"), callback_data=ShiftCancelCB(
                    shift=view.shift.id or 0).pack())])
        await message.answer(describe(view, campaign), reply_markup=markup)


async def shift_pressed(query: CallbackQuery, callback_data: ShiftCB, db: Database,
                        campaigns: CampaignCache, user: Person) -> None:
    campaign = await campaigns.get()
    action, shift_id = callback_data.action, callback_data.shift
    try:
        if action in ("join", "call_join"):
            outcome = await join_shift(db, shift_id, user.id)
            changed = bool(outcome)
            note = {Joined.ALREADY: _("You are already in."),
                    Joined.IN: _("✅ See you there!"),
                    Joined.LAST: _("✅ See you there! You took the last place: the shift is "
                                   "full.")}[outcome]
        elif action == "leave":
            changed = await leave_shift(db, shift_id, user.id)
            note = (_("Your place is freed. Thank you for saying so.") if changed else
                    _("Nothing to change: this shift is over, or you are not in it."))
        elif action in ("yes", "no"):
            coming = action == "yes"
            changed = await answer_still_coming(db, shift_id, user.id, coming)
            note = (_("👍 Great, see you there!") if coming else
                    _("Thank you for telling us: your place is freed.")) if changed else (
                _("Already noted."))
        elif action in ("came", "missed"):
            came = action == "came"
            changed = await confirm_own_attendance(db, shift_id, user.id, came)
            note = (_("🙏 Thank you for coming!") if came else
                    _("Thank you for telling us. See you another time!")) if changed else (
                _("Already noted."))
        else:
            await acknowledge(query)
            return
    except ShiftError as exc:
        await acknowledge(query, _error(exc.reason), show_alert=True)
        return
    await acknowledge(query, note)
    view = await shift_view(db, shift_id)
    if action == "call_join":
        # The broadcast stays as it was written; the place taken gets a card of its own,
        # where one can leave it.
        if changed and view is not None and isinstance(query.message, Message):
            with suppress(TelegramAPIError):  # the place is taken; the answer said so
                await query.message.answer(note + "\n" + describe(view, campaign),
                                           reply_markup=join_keyboard(view, True))
    elif view is not None and action in ("join", "leave"):
        # A second tap shows what the first did: Telegram answers "not modified".
        await edit_in_place(query.message, describe(view, campaign),
                            reply_markup=join_keyboard(view, action == "join"))
    elif isinstance(query.message, Message) and changed:
        await edit_in_place(query.message, query.message.html_text + "\n\n" + note)


async def cancel_pressed(query: CallbackQuery, callback_data: ShiftCancelCB, db: Database,
                         campaigns: CampaignCache, user: Person) -> None:
    await acknowledge(query)
    if callback_data.confirmed:
        await _cancel(query, db, callback_data.shift, user.id)
    else:
        await _confirm_cancel(query, db, await campaigns.get(), callback_data.shift)


async def _confirm_cancel(query: CallbackQuery, db: Database, campaign: Campaign | None,
                          shift_id: int) -> None:
    view = await shift_view(db, shift_id)
    if view is None or not isinstance(query.message, Message):
        return
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Yes, cancel it"), callback_data=ShiftCancelCB(shift=shift_id,
                                                                        confirmed=True))
    await query.message.answer(_(
        "Cancel this shift? Those signed up ({n}) will be told.\n{shift}").format(
        n=len(await signed_up(db, shift_id)), shift=where_and_when(view, campaign)),
        reply_markup=builder.as_markup())


async def _cancel(query: CallbackQuery, db: Database, shift_id: int, actor_id: int) -> None:
    people = await cancel_shift(db, shift_id, actor_id)
    if not isinstance(query.message, Message):
        return
    if people is None:
        await edit_in_place(query.message, _("This shift is over or cancelled already."))
        return
    await edit_in_place(query.message, _(
        "🚫 Shift cancelled; those signed up ({n}) will be told.").format(n=len(people)))


async def roster_screen(db: Database, view: ShiftView, campaign: Campaign | None, *,
                        page: int = 0, showing: int | None = None,
                        ) -> tuple[str, InlineKeyboardMarkup] | None:
    """Everyone signed up with ✅ came / ❌ no-show buttons, and the counts so far: the one
    screen where an organizer marks attendance, headed by the shift once it is over. A page
    of ROSTER_PAGE people at a time, ‹ › to turn: `page`, or the page of the person
    `showing` (just marked). None if nobody joined."""
    shift_id = view.shift.id or 0
    people = await roster(db, shift_id)
    if not people:
        return None
    pages = -(-len(people) // ROSTER_PAGE)
    at = next((i for i, p in enumerate(people) if p.user_id == showing), None)
    page = min(max(page if at is None else at // ROSTER_PAGE, 0), pages - 1)
    first = page * ROSTER_PAGE
    shown = people[first:first + ROSTER_PAGE]
    # Two Camilles: each with their place in the roster, on the screen and on the buttons.
    twice = {n for n, count in Counter(p.first_name for p in people).items() if count > 1}
    number = {p.user_id: f" #{i}" for i, p in enumerate(people, 1) if p.first_name in twice}

    title = (_("🏁 Shift over, who came? {shift}").format(shift=where_and_when(view, campaign))
             if view.shift.ends_at <= clock.utcnow() else "")
    marks = {"attended": "✅", "no_show": "❌", "joined": "·"}
    came = sum(p.status == "attended" for p in people)
    missed = sum(p.status == "no_show" for p in people)
    lines = ([title] if title else []) + [_("Roster:")]
    for p in shown:
        line = f"{marks.get(p.status, '·')} {escape(p.first_name)}{number.get(p.user_id, '')}"
        if p.no_shows_elsewhere:
            line += " " + _("(no-shows at other shifts: {n})").format(n=p.no_shows_elsewhere)
        lines.append(line)
    lines.append(_("{came} came, {missed} no-shows, {left} not marked yet.").format(
        came=came, missed=missed, left=len(people) - came - missed))
    if pages > 1:
        lines.append(_("Page {page}/{pages}").format(page=page + 1, pages=pages))
    rows = []
    for p in shown:
        label = _button_name(p.first_name) + number.get(p.user_id, "")
        rows.append([
            InlineKeyboardButton(text=f"✅ {label}", callback_data=AttendanceCB(
                shift=shift_id, user=p.user_id, came=True).pack()),
            InlineKeyboardButton(text=f"❌ {label}", callback_data=AttendanceCB(
                shift=shift_id, user=p.user_id, came=False).pack())])
    turn = []
    if page > 0:
        turn.append(InlineKeyboardButton(text=f"‹ {page}", callback_data=RosterPageCB(
            shift=shift_id, page=page - 1).pack()))
    if page < pages - 1:
        turn.append(InlineKeyboardButton(text=f"{page + 2} ›", callback_data=RosterPageCB(
            shift=shift_id, page=page + 1).pack()))
    if turn:
        rows.append(turn)
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _button_name(name: str) -> str:
    return name if len(name) <= BUTTON_NAME else name[:BUTTON_NAME - 1].rstrip() + "…"


async def roster_page(query: CallbackQuery, callback_data: RosterPageCB, db: Database,
                      campaigns: CampaignCache) -> None:
    await acknowledge(query)
    view = await shift_view(db, callback_data.shift)
    screen = None if view is None else await roster_screen(
        db, view, await campaigns.get(), page=callback_data.page)
    if screen is not None:  # a double tap on ‹ or ›: "not modified", done
        await edit_in_place(query.message, screen[0], reply_markup=screen[1])


async def roster_pressed(query: CallbackQuery, callback_data: RosterCB, db: Database,
                         campaigns: CampaignCache) -> None:
    await acknowledge(query)
    await _send_roster(query, db, await campaigns.get(), callback_data.shift)


async def _send_roster(query: CallbackQuery, db: Database, campaign: Campaign | None,
                       shift_id: int) -> None:
    view = await shift_view(db, shift_id)
    if view is None or not isinstance(query.message, Message):
        return
    screen = await roster_screen(db, view, campaign)
    if screen is None:
        await query.message.answer(_("Nobody has joined this shift yet."))
        return
    text, markup = screen
    await query.message.answer(text, reply_markup=markup)


async def attendance(query: CallbackQuery, callback_data: AttendanceCB, db: Database,
                     campaigns: CampaignCache, user: Person) -> None:
    await mark_attendance(db, callback_data.shift, callback_data.user, callback_data.came,
                          actor_id=user.id)
    await acknowledge(query, _("Noted."))
    view = await shift_view(db, callback_data.shift)
    # The page of the person just marked: the organizer stays where they were.
    screen = None if view is None else await roster_screen(
        db, view, await campaigns.get(), showing=callback_data.user)
    if screen is not None:  # the same mark again: "not modified", done
        await edit_in_place(query.message, screen[0], reply_markup=screen[1])


# ---- /newshift -------------------------------------------------------------------------------

async def newshift(message: Message, state: FSMContext) -> None:
    await state.update_data({DATA: {}})
    await state.set_state(NewShift.room)
    await message.answer(_("New shift. Which room? (Saint-Denis, Lyon, Marseille... or "
                           "\"remote\")"))


def parse_when(text: str, campaign: Campaign | None, base: datetime | None = None) -> datetime:
    """"18/06 14:00", "18/06/2026 14h", or "14:00" (the day of `base`)."""
    import re

    tz = ZoneInfo(campaign.timezone if campaign else "Europe/Paris")
    match = re.fullmatch(r"\s*(?:(\d{1,2})/(\d{1,2})(?:/(\d{4}))?\s+)?(\d{1,2})[:hH](\d{2})?\s*",
                         text)
    if match is None:
        raise ShiftError("when")
    day, month, year, hour, minute = match.groups()
    ref = (base or clock.utcnow()).astimezone(tz)
    try:
        local = datetime.combine(
            ref.date().replace(year=int(year or ref.year), month=int(month or ref.month),
                               day=int(day or ref.day)),
            time(int(hour), int(minute or 0)), tzinfo=tz)
    except ValueError as exc:
        raise ShiftError("when") from exc
    return local.astimezone(ZoneInfo("UTC"))


# Each step needs the answer before it: without it (the dialogue's data lost), start again.
_NEEDS = {NewShift.address.state: "room", NewShift.start.state: "address",
          NewShift.end.state: "start", NewShift.capacity.state: "end",
          NewShift.note.state: "capacity"}


async def newshift_step(message: Message, state: FSMContext, campaigns: CampaignCache) -> None:
    step = await state.get_state()
    data = (await state.get_data()).get(DATA, {})
    text = (message.text or "").strip()
    campaign = await campaigns.get()
    need = _NEEDS.get(step or "")
    if need is not None and need not in data:
        await state.set_state(None)
        await message.answer(_("Something was missing: please start again with /newshift."))
        return
    if len(text) > 300:
        await message.answer(_error("text"))
        return
    try:
        if step == NewShift.room.state:
            data["room"] = text
            nxt, ask = NewShift.address, _("Address? (\"-\" for none)")
        elif step == NewShift.address.state:
            data["address"] = "" if text == "-" else text
            nxt, ask = NewShift.start, _("Starts when? (such as 18/06 14:00)")
        elif step == NewShift.start.state:
            start = parse_when(text, campaign)
            if start <= clock.utcnow():
                raise ShiftError("past")
            data["start"] = start.isoformat()
            nxt, ask = NewShift.end, _("Ends when? (such as 17:00)")
        elif step == NewShift.end.state:
            start = datetime.fromisoformat(data["start"])
            end = parse_when(text, campaign, start)
            if end <= start - timedelta(hours=12):  # "02:00" after "22:00": the next day
                raise ShiftError("order")
            if end <= start:
                end += timedelta(days=1)
            if end - start > timedelta(hours=16):
                raise ShiftError("order")
            data["end"] = end.isoformat()
            nxt, ask = NewShift.capacity, _("How many places?")
        elif step == NewShift.capacity.state:
            if not text.isdigit() or not 1 <= int(text) <= 1000:
                raise ShiftError("capacity")
            data["capacity"] = int(text)
            nxt, ask = NewShift.note, _("A note for volunteers? (\"-\" for none)")
        else:
            data["note"] = "" if text == "-" else text
            nxt, ask = NewShift.confirm, ""
    except ShiftError as exc:
        await message.answer(_error(exc.reason))
        return
    await state.update_data({DATA: data})
    await state.set_state(nxt)
    if nxt != NewShift.confirm:
        await message.answer(ask)
        return
    preview = ShiftView(Shift(room=data["room"], address=data["address"],
                              starts_at=datetime.fromisoformat(data["start"]),
                              ends_at=datetime.fromisoformat(data["end"]),
                              capacity=data["capacity"], note=data["note"]), 0)
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✅ Open this shift"), callback_data=NewShiftCB(action="confirm"))
    builder.button(text=_("Cancel"), callback_data=NewShiftCB(action="cancel"))
    await message.answer(describe(preview, campaign), reply_markup=builder.as_markup())


async def newshift_done(query: CallbackQuery, callback_data: NewShiftCB, state: FSMContext,
                        db: Database, campaigns: CampaignCache, user: Person) -> None:
    data = (await state.get_data()).get(DATA, {})
    await state.set_state(None)
    await state.update_data({DATA: {}})
    if "capacity" not in data:  # a second tap, or a stale preview: it was settled already
        await acknowledge(query, _("Nothing to do: this was settled already."))
        return
    if callback_data.action != "confirm":
        await acknowledge(query)
        await edit_in_place(query.message, _("All right, no shift was opened."))
        return
    try:
        shift = await add_shift(db, room=data["room"], address=data["address"],
                                starts_at=datetime.fromisoformat(data["start"]),
                                ends_at=datetime.fromisoformat(data["end"]),
                                capacity=data["capacity"], note=data["note"], actor_id=user.id)
    except ShiftError as exc:
        await acknowledge(query, _error(exc.reason), show_alert=True)
        return
    await acknowledge(query, _("Shift opened."))
    view = await shift_view(db, shift.id or 0)
    if view is not None:
        await edit_in_place(query.message,
                            _("✅ Shift opened:") + "\n" + describe(view, await campaigns.get()))


# ---- what the deliverer sends ------------------------------------------------------------------

def make_renderers(db: Database, campaigns: CampaignCache) -> Renderers:
    async def still_coming(delivery: Delivery, user: Person) -> tuple[str, dict[str, Any]] | None:
        view = await shift_view(db, int(delivery.params["shift"]))
        if view is None or view.shift.cancelled:
            return None
        if user.id not in await signed_up(db, view.shift.id or 0):
            return None
        builder = InlineKeyboardBuilder()
        builder.button(text=_("Yes, I'm coming"), callback_data=ShiftCB(
            action="yes", shift=view.shift.id or 0))
        builder.button(text=_("No, free my place"), callback_data=ShiftCB(
            action="no", shift=view.shift.id or 0))
        return (_("📅 Tomorrow's shift: still coming?") + "\n" +
                describe(view, await campaigns.get()), {"reply_markup": builder.as_markup()})

    async def soon(delivery: Delivery, user: Person) -> tuple[str, dict[str, Any]] | None:
        view = await shift_view(db, int(delivery.params["shift"]))
        if view is None or view.shift.cancelled or user.id not in await signed_up(
                db, view.shift.id or 0):
            return None
        return (_("⏰ Your shift starts in 30 minutes:") + "\n" +
                describe(view, await campaigns.get()), {})

    async def attendance_due(delivery: Delivery,
                             user: Person) -> tuple[str, dict[str, Any]] | None:
        view = await shift_view(db, int(delivery.params["shift"]))
        if view is None or view.shift.cancelled or not user.is_organizer:
            return None
        screen = await roster_screen(db, view, await campaigns.get())
        return None if screen is None else (screen[0], {"reply_markup": screen[1]})

    async def did_you_come(delivery: Delivery,
                           user: Person) -> tuple[str, dict[str, Any]] | None:
        view = await shift_view(db, int(delivery.params["shift"]))
        # Not asked of someone an organizer has marked already.
        if view is None or view.shift.cancelled or user.id not in await signed_up(
                db, view.shift.id or 0):
            return None
        builder = InlineKeyboardBuilder()
        builder.button(text=_("✅ I came"), callback_data=ShiftCB(
            action="came", shift=view.shift.id or 0))
        builder.button(text=_("❌ I couldn't come"), callback_data=ShiftCB(
            action="missed", shift=view.shift.id or 0))
        return (_("🏁 The shift {shift} is over. Did you make it?").format(
            shift=where_and_when(view, await campaigns.get())),
            {"reply_markup": builder.as_markup()})

    async def cancelled(delivery: Delivery,
                        _user: Person) -> tuple[str, dict[str, Any]] | None:
        view = await shift_view(db, int(delivery.params["shift"]))
        if view is None:
            return None
        return _("🚫 The shift {shift} is cancelled. Sorry! /shifts shows the others.").format(
            shift=where_and_when(view, await campaigns.get())), {}

    async def full(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        view = await shift_view(db, int(delivery.params["shift"]))
        if view is None or view.shift.cancelled or view.left > 0:  # a place freed since
            return None
        return _("✅ The shift {shift} is full: {taken} / {capacity}.").format(
            shift=where_and_when(view, await campaigns.get()), taken=view.taken,
            capacity=view.shift.capacity), {}

    return {
        NoticeKind.SHIFT_STILL_COMING: still_coming,
        NoticeKind.SHIFT_SOON: soon,
        NoticeKind.SHIFT_ATTENDANCE: attendance_due,
        NoticeKind.SHIFT_DID_YOU_COME: did_you_come,
        NoticeKind.SHIFT_CANCELLED: cancelled,
        NoticeKind.SHIFT_FULL: full,
    }


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="shifts")
    router.message.register(shifts_command, Command("shifts"))
    router.callback_query.register(shift_pressed, ShiftCB.filter())
    organizers = organizer_router("shifts")
    organizers.message.register(newshift, Command("newshift"))
    organizers.message.register(newshift_step, StateFilter(
        NewShift.room, NewShift.address, NewShift.start, NewShift.end, NewShift.capacity,
        NewShift.note), F.text, ~F.text.startswith("/"))
    organizers.callback_query.register(cancel_pressed, ShiftCancelCB.filter())
    organizers.callback_query.register(newshift_done, NewShiftCB.filter())
    personal = personal_data_router("shifts")  # the roster: names
    personal.callback_query.register(roster_pressed, RosterCB.filter())
    personal.callback_query.register(attendance, AttendanceCB.filter())
    personal.callback_query.register(roster_page, RosterPageCB.filter())
    organizers.include_router(personal)
    router.include_router(organizers)
    return router

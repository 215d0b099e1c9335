"""/newshift: an organizer's dialogue, one question a step (room, address, start, end,
places, note), then a preview to confirm. The answers live in the FSM data until then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.shifts.texts import describe, error_text
from handlers.shifts.when import parse_when
from storage import clock
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Campaign, Shift
from storage.shifts import MAX_TEXT, ShiftError, ShiftView, add_shift, shift_view
from storage.users import Person
from ui.notify import acknowledge, edit_in_place

DATA = "newshift"


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


# What a step does with its answer: records it in the dialogue's data (or raises
# ShiftError), and says which step comes next with its question.
Step = Callable[[str, dict[str, Any], Campaign | None], tuple[State, str]]


def _room(text: str, data: dict[str, Any], _campaign: Campaign | None) -> tuple[State, str]:
    data["room"] = text
    return NewShift.address, _("Address? (\"-\" for none)")


def _address(text: str, data: dict[str, Any], _campaign: Campaign | None) -> tuple[State, str]:
    data["address"] = "" if text == "-" else text
    return NewShift.start, _("Starts when? (such as 18/06 14:00)")


def _start(text: str, data: dict[str, Any], campaign: Campaign | None) -> tuple[State, str]:
    start = parse_when(text, campaign)
    if start <= clock.utcnow():
        raise ShiftError("past")
    data["start"] = start.isoformat()
    return NewShift.end, _("Ends when? (such as 17:00)")


def _end(text: str, data: dict[str, Any], campaign: Campaign | None) -> tuple[State, str]:
    start = datetime.fromisoformat(data["start"])
    end = parse_when(text, campaign, start)
    if end <= start - timedelta(hours=12):  # "02:00" after "22:00": the next day
        raise ShiftError("order")
    if end <= start:
        end += timedelta(days=1)
    if end - start > timedelta(hours=16):
        raise ShiftError("order")
    data["end"] = end.isoformat()
    return NewShift.capacity, _("How many places?")


def _capacity(text: str, data: dict[str, Any], _campaign: Campaign | None) -> tuple[State, str]:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise ShiftError("capacity")
    data["capacity"] = int(text)
    return NewShift.note, _("A note for volunteers? (\"-\" for none)")


def _note(text: str, data: dict[str, Any], _campaign: Campaign | None) -> tuple[State, str]:
    data["note"] = "" if text == "-" else text
    return NewShift.confirm, ""


_STEPS: dict[str | None, Step] = {
    NewShift.room.state: _room, NewShift.address.state: _address,
    NewShift.start.state: _start, NewShift.end.state: _end,
    NewShift.capacity.state: _capacity, NewShift.note.state: _note}
# Each step needs the answer before it: without it (the dialogue's data lost), start again.
_NEEDS = {NewShift.address.state: "room", NewShift.start.state: "address",
          NewShift.end.state: "start", NewShift.capacity.state: "end",
          NewShift.note.state: "capacity"}


async def newshift(message: Message, state: FSMContext) -> None:
    await state.update_data({DATA: {}})
    await state.set_state(NewShift.room)
    await message.answer(_("New shift. Which room? (Saint-Denis, Lyon, Marseille... or "
                           "\"remote\")"))


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
    if len(text) > MAX_TEXT:
        await message.answer(error_text("text"))
        return
    try:
        nxt, ask = _STEPS.get(step, _note)(text, data, campaign)
    except ShiftError as exc:
        await message.answer(error_text(exc.reason))
        return
    await state.update_data({DATA: data})
    await state.set_state(nxt)
    if nxt != NewShift.confirm:
        await message.answer(ask)
        return
    await _preview(message, data, campaign)


async def _preview(message: Message, data: dict[str, Any], campaign: Campaign | None) -> None:
    """The shift as volunteers will see it, to open or not."""
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
        await acknowledge(query, error_text(exc.reason), show_alert=True)
        return
    await acknowledge(query, _("Shift opened."))
    view = await shift_view(db, shift.id or 0)
    if view is not None:
        await edit_in_place(query.message,
                            _("✅ Shift opened:") + "\n" + describe(view, await campaigns.get()))

"""/shifts for everyone: the coming shifts, Join and Leave, and the answers to the shift
reminders (still coming? did you come?), all on ShiftCB."""

from __future__ import annotations

from contextlib import suppress

from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.shifts.cancelling import ShiftCancelCB
from handlers.shifts.roster import RosterCB
from handlers.shifts.texts import describe, error_text
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.shifts import (
    Joined,
    ShiftError,
    ShiftView,
    answer_still_coming,
    coming_shifts,
    confirm_own_attendance,
    join_shift,
    leave_shift,
    my_shifts,
    shift_view,
)
from storage.users import Person
from ui.notify import acknowledge, edit_in_place


class ShiftCB(CallbackData, prefix="sh"):
    action: str  # join | call_join (from a broadcast) | leave | yes | no | came | missed
    shift: int


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


async def _press(db: Database, action: str, shift_id: int,
                 user_id: int) -> tuple[bool, str] | None:
    """Whether the press changed anything, and what to answer; None for no such action."""
    if action in ("join", "call_join"):
        outcome = await join_shift(db, shift_id, user_id)
        return bool(outcome), {
            Joined.ALREADY: _("You are already in."),
            Joined.IN: _("✅ See you there!"),
            Joined.LAST: _("✅ See you there! You took the last place: the shift is full.")}[
            outcome]
    if action == "leave":
        changed = await leave_shift(db, shift_id, user_id)
        return changed, (_("Your place is freed. Thank you for saying so.") if changed else
                         _("Nothing to change: this shift is over, or you are not in it."))
    if action in ("yes", "no"):
        coming = action == "yes"
        changed = await answer_still_coming(db, shift_id, user_id, coming)
        return changed, (_("👍 Great, see you there!") if coming else
                         _("Thank you for telling us: your place is freed.")) if changed else (
            _("Already noted."))
    if action in ("came", "missed"):
        came = action == "came"
        changed = await confirm_own_attendance(db, shift_id, user_id, came)
        return changed, (_("🙏 Thank you for coming!") if came else
                         _("Thank you for telling us. See you another time!")) if changed else (
            _("Already noted."))
    return None


async def shift_pressed(query: CallbackQuery, callback_data: ShiftCB, db: Database,
                        campaigns: CampaignCache, user: Person) -> None:
    campaign = await campaigns.get()
    action, shift_id = callback_data.action, callback_data.shift
    try:
        pressed = await _press(db, action, shift_id, user.id)
    except ShiftError as exc:
        await acknowledge(query, error_text(exc.reason), show_alert=True)
        return
    if pressed is None:
        await acknowledge(query)
        return
    changed, note = pressed
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

"""An organizer cancels a shift: a confirmation first, then those signed up are told (the
storage operation queues their messages with the cancellation)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.shifts.texts import where_and_when
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Campaign
from storage.shifts import cancel_shift, shift_view, signed_up
from storage.users import Person
from ui.notify import acknowledge, edit_in_place


class ShiftCancelCB(CallbackData, prefix="shx"):
    """An organizer's: cancel the shift, then confirm."""

    shift: int
    confirmed: bool = False


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

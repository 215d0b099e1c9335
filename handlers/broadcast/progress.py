"""A broadcast's progress message: edited in place as the rows go, with a Cancel button
until the end."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from storage import clock
from storage.broadcasts import Progress, cancel_broadcast, progress, progress_shown
from storage.database import Database
from storage.models import BroadcastStatus
from storage.users import Person, get_user
from ui.i18n import pick_locale
from ui.notify import acknowledge

log = logging.getLogger(__name__)

# A broadcast that can still be cancelled: its progress message keeps the button.
_LIVE = (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING)


class CancelBroadcastCB(CallbackData, prefix="bcx"):
    broadcast: int


def cancel_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("⛔ Cancel"), callback_data=CancelBroadcastCB(broadcast=broadcast_id).pack())]])


async def cancel_pressed(query: CallbackQuery, callback_data: CancelBroadcastCB, db: Database,
                         bot: Bot, i18n: I18n, user: Person) -> None:
    cancelled = await cancel_broadcast(db, callback_data.broadcast, user.id)
    await acknowledge(query, _("Cancelled: nothing more will be sent.") if cancelled
                      else _("Already finished or cancelled."))
    # Either way the progress message is brought up to date (it may have missed the end).
    await update_progress(bot, db, i18n, callback_data.broadcast)


def progress_text(state: Progress) -> str:
    if state.status == BroadcastStatus.CANCELLED:
        return _("📣 Cancelled: {sent} / {total} sent.").format(sent=state.sent,
                                                              total=state.total)
    if state.status == BroadcastStatus.DONE:
        return _("📣 Done: {sent} / {total} sent, {unreachable} unreachable.").format(
            sent=state.sent, total=state.total, unreachable=state.unreachable)
    if state.status == BroadcastStatus.SCHEDULED:
        return _("📣 Scheduled: {total} people.").format(total=state.total)
    left = max(0, state.total - state.done)
    return _("📣 {sent} / {total} sent, {unreachable} unreachable, about {minutes} min "
             "left").format(sent=state.sent, total=state.total, unreachable=state.unreachable,
                            minutes=max(1, round(left / _pace(state) / 60)) if left else 0)


def _pace(state: Progress) -> float:
    """Messages a second so far (paid broadcasts go 40 times faster than the default 25).
    Only what went to Telegram counts: a skipped row takes no time."""
    elapsed = (clock.utcnow() - state.started_at).total_seconds() if state.started_at else 0
    gone = state.sent + state.unreachable
    if elapsed < 5 or not gone:
        return 25.0  # too early to tell: Telegram's free rate
    return gone / elapsed


async def update_progress(bot: Bot, db: Database, i18n: I18n, broadcast_id: int) -> None:
    """The organizer's progress message, edited in place (never sent again), in the
    language of the chat it is in. Once it shows the end for sure it is left alone; an
    edit refused for a while (429, a timeout) is tried again by the next tick."""
    state = await progress(db, broadcast_id)
    if state is None or state.progress_chat_id is None or state.progress_message_id is None:
        return
    reader = await get_user(db, state.progress_chat_id)
    with i18n.context(), i18n.use_locale(pick_locale(reader.language_code if reader else None,
                                                     i18n.default_locale)):
        text = progress_text(state)
        markup = (cancel_keyboard(broadcast_id) if state.status in _LIVE
                  else None)
    try:
        await bot.edit_message_text(text, chat_id=state.progress_chat_id,
                                    message_id=state.progress_message_id, reply_markup=markup)
    except TelegramBadRequest:
        pass  # "message is not modified" (it shows this already), or deleted: nothing to do
    except TelegramAPIError as exc:
        log.info("progress of broadcast %s not shown yet: %s", broadcast_id, exc)
        return
    await progress_shown(db, broadcast_id, state.status)

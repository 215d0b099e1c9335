"""/broadcast: an organizer writes, picks an audience, previews, sends now or later; a live
progress message with a Cancel button follows the sending."""

from __future__ import annotations

import time
from datetime import datetime
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.campaign_cache import CampaignCache
from bot.i18n import pick_locale
from bot.notify import acknowledge
from handlers.doors import organizer_router
from handlers.shifts import ShiftCB, ShiftError, parse_when
from storage import clock
from storage.broadcasts import (
    MAX_TEXT,
    BroadcastError,
    Progress,
    ToSend,
    audience,
    broadcast_to_send,
    cancel_broadcast,
    create_broadcast,
    footer_length,
    progress,
    set_progress_message,
    start_due,
)
from storage.database import Database
from storage.outbox import Delivery
from storage.shifts import coming_shifts
from storage.users import Person, get_user

DATA = "broadcast"


class ComposeCB(CallbackData, prefix="bc"):
    action: str  # audience | shift | now | later | cancel
    value: str = ""


class CancelBroadcastCB(CallbackData, prefix="bcx"):
    broadcast: int


class Compose(StatesGroup):
    text = State()
    when = State()


def footer(campaign_name: str) -> str:
    return _("— {campaign} · /stop: no more messages").format(campaign=campaign_name)


def broadcast_message(text: str, campaign_name: str,
                      shift_id: int | None) -> tuple[str, dict[str, Any]]:
    """The message exactly as recipients see it: the text, the campaign, the way out."""
    kwargs: dict[str, Any] = {}
    if shift_id is not None:
        kwargs["reply_markup"] = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("✋ Join"), callback_data=ShiftCB(action="join", shift=shift_id).pack())]])
    return f"{text}\n\n<i>{escape(footer(campaign_name))}</i>", kwargs


async def broadcast_command(message: Message, state: FSMContext) -> None:
    await state.update_data({DATA: {}})
    await state.set_state(Compose.text)
    await message.answer(_("Write the message to send (bold, italics and links are kept)."))


async def text_written(message: Message, state: FSMContext, db: Database,
                       campaigns: CampaignCache) -> None:
    campaign = await campaigns.get()
    name = campaign.name if campaign else ""
    length = len(message.text or "") + footer_length(footer(name))
    if length > MAX_TEXT:
        await message.answer(_("Too long: {n} characters with the campaign's footer, "
                               "Telegram allows {max}. Please shorten it.").format(
            n=length, max=MAX_TEXT))
        return
    await state.update_data({DATA: {"text": message.html_text,
                                    "length": len(message.text or "")}})
    builder = InlineKeyboardBuilder()
    for kind, label in (("everyone", _("Everyone")), ("volunteers", _("Approved volunteers")),
                        ("under3", _("Supporters with fewer than 3 recruits"))):
        builder.button(text=label, callback_data=ComposeCB(action="audience", value=kind))
    rooms = sorted({v.shift.room for v in await coming_shifts(db, limit=50)})
    for room in rooms[:6]:
        builder.button(text=_("People of {room}").format(room=room),
                       callback_data=ComposeCB(action="audience", value=f"room:{room}"[:40]))
    for view in await coming_shifts(db, limit=5):
        builder.button(text=_("Signed up: {room} {start:%d/%m %H:%M}").format(
            room=view.shift.room, start=view.shift.starts_at),
            callback_data=ComposeCB(action="audience", value=f"shift:{view.shift.id}"))
    builder.button(text=_("Cancel"), callback_data=ComposeCB(action="cancel"))
    builder.adjust(1)
    await state.set_state(None)
    await message.answer(_("Who receives it?"), reply_markup=builder.as_markup())


async def compose_pressed(query: CallbackQuery, callback_data: ComposeCB, state: FSMContext,
                          db: Database, campaigns: CampaignCache, bot: Bot,
                          user: Person) -> None:
    await acknowledge(query)
    data = (await state.get_data()).get(DATA, {})
    campaign = await campaigns.get()
    if not isinstance(query.message, Message) or campaign is None:
        return
    action, value = callback_data.action, callback_data.value
    if action == "cancel" or "text" not in data:
        await state.set_state(None)
        await state.update_data({DATA: {}})
        await query.message.edit_text(_("All right, nothing was sent."))
        return
    if action == "audience":
        kind, _sep, rest = value.partition(":")
        data["audience"], data["audience_value"] = kind, rest or None
        try:
            count = len(await audience(db, kind, rest or None))
        except BroadcastError:
            return
        if count == 0:
            await query.message.answer(_("Nobody is in that audience: choose another."))
            return
        data["count"] = count
        await state.update_data({DATA: data})
        builder = InlineKeyboardBuilder()
        for view in await coming_shifts(db, limit=5):
            builder.button(text=_("Join button: {room} {start:%d/%m %H:%M}").format(
                room=view.shift.room, start=view.shift.starts_at),
                callback_data=ComposeCB(action="shift", value=str(view.shift.id)))
        builder.button(text=_("No shift"), callback_data=ComposeCB(action="shift"))
        builder.adjust(1)
        await query.message.edit_text(_("{n} people. Attach a shift's Join button?").format(
            n=count), reply_markup=builder.as_markup())
        return
    if action == "shift":
        data["shift"] = int(value) if value.isdigit() else None
        await state.update_data({DATA: data})
        text, kwargs = broadcast_message(data["text"], campaign.name, data["shift"])
        await query.message.answer(_("Preview, exactly as {n} people will see it:").format(
            n=data["count"]))
        await query.message.answer(text, **kwargs)
        builder = InlineKeyboardBuilder()
        builder.button(text=_("📣 Send now"), callback_data=ComposeCB(action="now"))
        builder.button(text=_("🕒 Send later"), callback_data=ComposeCB(action="later"))
        builder.button(text=_("Cancel"), callback_data=ComposeCB(action="cancel"))
        await query.message.answer(_("Send it?"), reply_markup=builder.as_markup())
        return
    if action == "later":
        await state.set_state(Compose.when)
        await query.message.answer(_("When? (such as 18/06 09:00)"))
        return
    if action == "now":
        await _create(query.message, state, db, campaigns, bot, user, None)


async def when_written(message: Message, state: FSMContext, db: Database,
                       campaigns: CampaignCache, bot: Bot, user: Person) -> None:
    try:
        when = parse_when(message.text or "", await campaigns.get(), clock.utcnow())
    except ShiftError:
        await message.answer(_("Please write a date and time such as 18/06 14:00."))
        return
    await _create(message, state, db, campaigns, bot, user, when)


async def _create(message: Message, state: FSMContext, db: Database, campaigns: CampaignCache,
                  bot: Bot, user: Person, when: datetime | None) -> None:
    data = (await state.get_data()).get(DATA, {})
    campaign = await campaigns.get()
    if campaign is None or "audience" not in data:
        return
    try:
        broadcast = await create_broadcast(
            db, text=data["text"], visible_length=data["length"], footer=footer(campaign.name),
            audience_kind=data["audience"], audience_value=data.get("audience_value"),
            shift_id=data.get("shift"), scheduled_at=when, actor_id=user.id,
            progress_chat_id=message.chat.id)
    except BroadcastError as exc:
        await message.answer({
            "past": _("That time has already passed."),
            "nobody": _("Nobody is in that audience: choose another."),
            "shift_past": _("That shift is over."),
            "long": _("Too long: {n} characters with the campaign's footer, Telegram allows "
                      "{max}. Please shorten it.").format(n=exc.detail, max=MAX_TEXT),
        }.get(exc.reason, _("Something was missing: please start again with /broadcast.")))
        return
    await state.set_state(None)
    await state.update_data({DATA: {}})
    status = await message.answer(
        (_("📣 Scheduled for {when:%d/%m %H:%M}: {n} people.").format(
            when=when.astimezone(_tz(campaign)), n=broadcast.total) if when else
         _("📣 Sending to {n} people…").format(n=broadcast.total)),
        reply_markup=cancel_keyboard(broadcast.id or 0))
    await set_progress_message(db, broadcast.id or 0, status.chat.id, status.message_id)
    if when is None:
        await start_due(db)


def _tz(campaign: Any) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(campaign.timezone)


def cancel_keyboard(broadcast_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("⛔ Cancel"), callback_data=CancelBroadcastCB(broadcast=broadcast_id).pack())]])


async def cancel_pressed(query: CallbackQuery, callback_data: CancelBroadcastCB, db: Database,
                         user: Person) -> None:
    cancelled = await cancel_broadcast(db, callback_data.broadcast, user.id)
    await acknowledge(query, _("Cancelled: nothing more will be sent.") if cancelled
                      else _("Already finished or cancelled."))
    state = await progress(db, callback_data.broadcast)
    if cancelled and state is not None and isinstance(query.message, Message):
        await query.message.edit_text(progress_text(state))


def progress_text(state: Progress) -> str:
    if state.status == "cancelled":
        return _("📣 Cancelled: {sent} / {total} sent.").format(sent=state.sent,
                                                              total=state.total)
    if state.status == "done":
        return _("📣 Done: {sent} / {total} sent, {unreachable} unreachable.").format(
            sent=state.sent, total=state.total, unreachable=state.unreachable)
    if state.status == "scheduled":
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


# ---- what the deliverer sends --------------------------------------------------------------------

def make_renderers(db: Database, campaigns: CampaignCache) -> dict[str, Any]:
    # Read once a second, not once a recipient (a thousand a second for paid broadcasts):
    # a cancel stops the rows already claimed anyway (outbox.mark_sending).
    recent: dict[int, tuple[float, ToSend | None]] = {}

    async def render(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        broadcast_id = int(delivery.params["broadcast"])
        read_at, broadcast = recent.get(broadcast_id, (-1.0, None))
        if time.monotonic() - read_at > 1.0:
            broadcast = await broadcast_to_send(db, broadcast_id)
            recent.clear()  # one broadcast at a time, in practice
            recent[broadcast_id] = (time.monotonic(), broadcast)
        campaign = await campaigns.get()
        if broadcast is None or broadcast.status == "cancelled" or campaign is None:
            return None
        return broadcast_message(broadcast.text, campaign.name, broadcast.shift_id)

    return {"broadcast": render}


async def update_progress(bot: Bot, db: Database, i18n: I18n, broadcast_id: int) -> None:
    """The organizer's progress message, edited in place (never sent again), in the
    language of the chat it is in."""
    state = await progress(db, broadcast_id)
    if state is None or state.progress_chat_id is None or state.progress_message_id is None:
        return
    reader = await get_user(db, state.progress_chat_id)
    with i18n.context(), i18n.use_locale(pick_locale(reader.language_code if reader else None,
                                                     i18n.default_locale)):
        text = progress_text(state)
        markup = (cancel_keyboard(broadcast_id) if state.status in ("scheduled", "sending")
                  else None)
    try:
        await bot.edit_message_text(text, chat_id=state.progress_chat_id,
                                    message_id=state.progress_message_id, reply_markup=markup)
    except TelegramAPIError:
        pass  # "message is not modified", or deleted: the next tick tries again


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = organizer_router("broadcast")  # all of it
    router.message.register(broadcast_command, Command("broadcast"))
    router.message.register(text_written, StateFilter(Compose.text), F.text,
                            ~F.text.startswith("/"))
    router.message.register(when_written, StateFilter(Compose.when), F.text,
                            ~F.text.startswith("/"))
    router.callback_query.register(compose_pressed, ComposeCB.filter())
    router.callback_query.register(cancel_pressed, CancelBroadcastCB.filter())
    return router

"""/broadcast: an organizer writes, picks an audience, previews, sends now or later; a live
progress message with a Cancel button follows the sending."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.doors import organizer_router
from handlers.shifts import ShiftCB, ShiftError, parse_when, where_and_when
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
    progress_shown,
    set_progress_message,
    start_due,
)
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Campaign
from storage.outbox import Delivery, NoticeKind
from storage.shifts import ShiftView, coming_shifts, shift_view
from storage.users import Person, get_user
from ui.i18n import pick_locale
from ui.notify import acknowledge, edit_in_place
from ui.renderers import Renderers

log = logging.getLogger(__name__)

DATA = "broadcast"


class ComposeCB(CallbackData, prefix="bc"):
    """Ids only, never a room's name (free text, which may hold the separator)."""

    action: str  # audience | join | now | later | cancel
    audience: str = ""  # everyone | volunteers | under3 | room | shift
    shift: int = 0  # "room": a shift in that room; "shift" and "join": the shift; 0: none


class CancelBroadcastCB(CallbackData, prefix="bcx"):
    broadcast: int


class Compose(StatesGroup):
    text = State()
    when = State()


def footer(campaign_name: str) -> str:
    return _("— {campaign} · /stop: no more messages").format(campaign=campaign_name)


def broadcast_message(text: str, campaign: Campaign,
                      shift: ShiftView | None) -> tuple[str, dict[str, Any]]:
    """The message exactly as recipients see it: the text, the shift's Join button if it
    has one, the campaign, the way out. A shift cancelled since the broadcast was written
    takes its button away, and says so where the length allows."""
    body, kwargs = text, {}
    if shift is not None and shift.shift.cancelled:
        note = _("🚫 The shift {shift} is cancelled.").format(
            shift=where_and_when(shift, campaign))
        if len(text) + len(note) + 2 + footer_length(footer(campaign.name)) <= MAX_TEXT:
            body = f"{text}\n\n{note}"
    elif shift is not None and shift.shift.ends_at > clock.utcnow():
        kwargs["reply_markup"] = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("✋ Join"), callback_data=ShiftCB(action="call_join",
                                                    shift=shift.shift.id or 0).pack())]])
    return f"{body}\n\n<i>{escape(footer(campaign.name))}</i>", kwargs


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
    await state.set_state(None)
    await message.answer(_("Who receives it?"),
                         reply_markup=await audience_keyboard(db, campaign))


async def audience_keyboard(db: Database, campaign: Campaign | None) -> InlineKeyboardMarkup:
    """Everyone, volunteers, supporters short of three; the people of each room planned
    (up to 6) and those signed up to each of the next shifts (up to 5): 15 buttons at most."""
    builder = InlineKeyboardBuilder()
    for kind, label in (("everyone", _("Everyone")), ("volunteers", _("Approved volunteers")),
                        ("under3", _("Supporters with fewer than 3 recruits"))):
        builder.button(text=label, callback_data=ComposeCB(action="audience", audience=kind))
    rooms: dict[str, int] = {}  # each room by the first of its coming shifts
    for view in await coming_shifts(db, limit=50):
        rooms.setdefault(view.shift.room, view.shift.id or 0)
    for room, shift_id in sorted(rooms.items())[:6]:
        builder.button(text=_("People of {room}").format(room=room),
                       callback_data=ComposeCB(action="audience", audience="room",
                                               shift=shift_id))
    for view in await coming_shifts(db, limit=5):
        builder.button(text=_("Signed up: {room} {start:%d/%m %H:%M}").format(
            room=view.shift.room, start=_local(campaign, view.shift.starts_at)),
            callback_data=ComposeCB(action="audience", audience="shift",
                                    shift=view.shift.id or 0))
    builder.button(text=_("Cancel"), callback_data=ComposeCB(action="cancel"))
    builder.adjust(1)
    return builder.as_markup()


async def _chosen_audience(db: Database, callback_data: ComposeCB) -> tuple[str, str | None]:
    """The audience as storage knows it: a room by its name, read from the shift the
    button names; a shift by its id."""
    kind = callback_data.audience
    if kind == "room":
        view = await shift_view(db, callback_data.shift)
        if view is None:
            raise BroadcastError("audience")
        return kind, view.shift.room
    if kind == "shift":
        return kind, str(callback_data.shift)
    return kind, None


async def compose_pressed(query: CallbackQuery, callback_data: ComposeCB, state: FSMContext,
                          db: Database, campaigns: CampaignCache, bot: Bot,
                          user: Person) -> None:
    await acknowledge(query)
    data = (await state.get_data()).get(DATA, {})
    campaign = await campaigns.get()
    if not isinstance(query.message, Message) or campaign is None:
        return
    action = callback_data.action
    if action == "cancel" or "text" not in data:
        await state.set_state(None)
        await state.update_data({DATA: {}})
        await edit_in_place(query.message, _("All right, nothing was sent."))
        return
    if action == "audience":
        try:
            kind, value = await _chosen_audience(db, callback_data)
            count = len(await audience(db, kind, value))
        except BroadcastError:
            return
        if count == 0:
            await query.message.answer(_("Nobody is in that audience: choose another."))
            return
        data.update(audience=kind, audience_value=value, count=count)
        await state.update_data({DATA: data})
        builder = InlineKeyboardBuilder()
        for view in await coming_shifts(db, limit=5):
            builder.button(text=_("Join button: {room} {start:%d/%m %H:%M}").format(
                room=view.shift.room, start=_local(campaign, view.shift.starts_at)),
                callback_data=ComposeCB(action="join", shift=view.shift.id or 0))
        builder.button(text=_("No shift"), callback_data=ComposeCB(action="join"))
        builder.adjust(1)
        # A second tap on the same audience shows the same: "not modified", done.
        await edit_in_place(query.message, _("{n} people. Attach a shift's Join button?").format(
            n=count), reply_markup=builder.as_markup())
        return
    if action == "join":
        data["shift"] = callback_data.shift or None
        await state.update_data({DATA: data})
        shift = await shift_view(db, data["shift"]) if data["shift"] else None
        text, kwargs = broadcast_message(data["text"], campaign, shift)
        await query.message.answer(_("Preview, exactly as {n} people will see it:").format(
            n=data.get("count", 0)))
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
            when=_local(campaign, when), n=broadcast.total) if when else
         _("📣 Sending to {n} people…").format(n=broadcast.total)),
        reply_markup=cancel_keyboard(broadcast.id or 0))
    await set_progress_message(db, broadcast.id or 0, status.chat.id, status.message_id)
    if when is None:
        await start_due(db)


def _local(campaign: Campaign | None, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(campaign.timezone if campaign else "Europe/Paris"))


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

def make_renderers(db: Database, campaigns: CampaignCache) -> Renderers:
    # Read once a second, not once a recipient (a thousand a second for paid broadcasts):
    # a cancel stops the rows already claimed anyway (outbox.mark_sending), and a Join
    # pressed on a shift cancelled within that second says so.
    recent: dict[int, tuple[float, ToSend | None, ShiftView | None]] = {}

    async def render(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        broadcast_id = int(delivery.params["broadcast"])
        read_at, broadcast, shift = recent.get(broadcast_id, (-1.0, None, None))
        if time.monotonic() - read_at > 1.0:
            broadcast = await broadcast_to_send(db, broadcast_id)
            shift = (await shift_view(db, broadcast.shift_id)
                     if broadcast is not None and broadcast.shift_id is not None else None)
            recent.clear()  # one broadcast at a time, in practice
            recent[broadcast_id] = (time.monotonic(), broadcast, shift)
        campaign = await campaigns.get()
        if broadcast is None or broadcast.status == "cancelled" or campaign is None:
            return None
        return broadcast_message(broadcast.text, campaign, shift)

    return {NoticeKind.BROADCAST: render}


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
        markup = (cancel_keyboard(broadcast_id) if state.status in ("scheduled", "sending")
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

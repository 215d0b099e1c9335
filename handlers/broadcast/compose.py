"""/broadcast, composing: an organizer writes the text, picks an audience and maybe a
shift's Join button, previews it exactly as recipients will see it, and sends it now or
at a set time."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.broadcast.messages import broadcast_message, footer
from handlers.broadcast.progress import cancel_keyboard
from handlers.shifts import ShiftError, local_time, parse_when
from storage import clock
from storage.broadcasts import (
    MAX_TEXT,
    BroadcastError,
    audience,
    create_broadcast,
    footer_length,
    set_progress_message,
    start_due,
)
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Audience, Campaign
from storage.shifts import coming_shifts, shift_view
from storage.silence import Silence, next_silence, silence_at
from storage.users import Person
from ui.notify import acknowledge, edit_in_place
from ui.silence import silence_line

DATA = "broadcast"


class ComposeCB(CallbackData, prefix="bc"):
    """Ids only, never a room's name (free text, which may hold the separator)."""

    action: str  # audience | join | now | later | after (the silence's end) | cancel
    audience: str = ""  # everyone | volunteers | under3 | room | shift
    shift: int = 0  # "room": a shift in that room; "shift" and "join": the shift; 0: none


class Compose(StatesGroup):
    text = State()
    when = State()


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
    for kind, label in ((Audience.EVERYONE, _("Everyone")),
                        (Audience.VOLUNTEERS, _("Approved volunteers")),
                        (Audience.UNDER3, _("Supporters with fewer than 3 recruits"))):
        builder.button(text=label, callback_data=ComposeCB(action="audience", audience=kind))
    rooms: dict[str, int] = {}  # each room by the first of its coming shifts
    for view in await coming_shifts(db, limit=50):
        rooms.setdefault(view.shift.room, view.shift.id or 0)
    for room, shift_id in sorted(rooms.items())[:6]:
        builder.button(text=_("People of {room}").format(room=room),
                       callback_data=ComposeCB(action="audience", audience=Audience.ROOM,
                                               shift=shift_id))
    for view in await coming_shifts(db, limit=5):
        builder.button(text=_("Signed up: {room} {start:%d/%m %H:%M}").format(
            room=view.shift.room, start=local_time(campaign, view.shift.starts_at)),
            callback_data=ComposeCB(action="audience", audience=Audience.SHIFT,
                                    shift=view.shift.id or 0))
    builder.button(text=_("Cancel"), callback_data=ComposeCB(action="cancel"))
    builder.adjust(1)
    return builder.as_markup()


async def _chosen_audience(db: Database, callback_data: ComposeCB) -> tuple[str, str | None]:
    """The audience as storage knows it: a room by its name, read from the shift the
    button names; a shift by its id."""
    kind = callback_data.audience
    if kind == Audience.ROOM:
        view = await shift_view(db, callback_data.shift)
        if view is None:
            raise BroadcastError("audience")
        return kind, view.shift.room
    if kind == Audience.SHIFT:
        return kind, str(callback_data.shift)
    return kind, None


async def compose_pressed(query: CallbackQuery, callback_data: ComposeCB, state: FSMContext,
                          db: Database, campaigns: CampaignCache, user: Person) -> None:
    data = (await state.get_data()).get(DATA, {})
    action = callback_data.action
    if "text" not in data:
        # A button of a draft already sent or dropped: it may be going out, so no edit
        # says that nothing was sent.
        await acknowledge(query, _("This draft is done: it was sent or dropped. A broadcast "
                                   "under way has its own Cancel button."), show_alert=True)
        return
    await acknowledge(query)
    campaign = await campaigns.get()
    if not isinstance(query.message, Message) or campaign is None:
        return
    if action == "cancel":
        await state.set_state(None)
        await state.update_data({DATA: {}})
        await edit_in_place(query.message, _("All right, nothing was sent."))
    elif action == "audience":
        await _audience_chosen(query.message, callback_data, state, db, campaign, data)
    elif action == "join":
        await _join_chosen(query.message, callback_data, state, db, campaign, data)
    elif action == "later":
        await state.set_state(Compose.when)
        ahead = next_silence(campaign)
        await query.message.answer(_("When? (such as 18/06 09:00)") + (
            "\n\n" + silence_line(campaign, ahead) if ahead else ""))
    elif action == "now":
        await _create(query.message, state, db, campaigns, user, None)
    elif action == "after" and "after" in data:
        await _create(query.message, state, db, campaigns, user,
                      datetime.fromisoformat(data["after"]))


async def _audience_chosen(message: Message, callback_data: ComposeCB, state: FSMContext,
                           db: Database, campaign: Campaign, data: dict[str, Any]) -> None:
    """How many it reaches, and the choice of a shift's Join button."""
    try:
        kind, value = await _chosen_audience(db, callback_data)
        count = len(await audience(db, kind, value))
    except BroadcastError:
        return
    if count == 0:
        await message.answer(_("Nobody is in that audience: choose another."))
        return
    data.update(audience=kind, audience_value=value, count=count)
    await state.update_data({DATA: data})
    builder = InlineKeyboardBuilder()
    for view in await coming_shifts(db, limit=5):
        builder.button(text=_("Join button: {room} {start:%d/%m %H:%M}").format(
            room=view.shift.room, start=local_time(campaign, view.shift.starts_at)),
            callback_data=ComposeCB(action="join", shift=view.shift.id or 0))
    builder.button(text=_("No shift"), callback_data=ComposeCB(action="join"))
    builder.adjust(1)
    # A second tap on the same audience shows the same: "not modified", done.
    await edit_in_place(message, _("{n} people. Attach a shift's Join button?").format(
        n=count), reply_markup=builder.as_markup())


async def _join_chosen(message: Message, callback_data: ComposeCB, state: FSMContext,
                       db: Database, campaign: Campaign, data: dict[str, Any]) -> None:
    """The preview, exactly as recipients will see it, then now or later."""
    data["shift"] = callback_data.shift or None
    await state.update_data({DATA: data})
    shift = await shift_view(db, data["shift"]) if data["shift"] else None
    text, kwargs = broadcast_message(data["text"], campaign, shift)
    await message.answer(_("Preview, exactly as {n} people will see it:").format(
        n=data.get("count", 0)))
    await message.answer(text, **kwargs)
    builder = InlineKeyboardBuilder()
    builder.button(text=_("📣 Send now"), callback_data=ComposeCB(action="now"))
    builder.button(text=_("🕒 Send later"), callback_data=ComposeCB(action="later"))
    builder.button(text=_("Cancel"), callback_data=ComposeCB(action="cancel"))
    await message.answer(_("Send it?"), reply_markup=builder.as_markup())


async def when_written(message: Message, state: FSMContext, db: Database,
                       campaigns: CampaignCache, user: Person) -> None:
    try:
        when = parse_when(message.text or "", await campaigns.get(), clock.utcnow())
    except ShiftError:
        await message.answer(_("Please write a date and time such as 18/06 14:00."))
        return
    await _create(message, state, db, campaigns, user, when)


def _refusal(exc: BroadcastError) -> str:
    return {
        "past": _("That time has already passed."),
        "nobody": _("Nobody is in that audience: choose another."),
        "shift_past": _("That shift is over by the time it goes: choose another."),
        "long": _("Too long: {n} characters with the campaign's footer, Telegram allows "
                  "{max}. Please shorten it.").format(n=exc.detail, max=MAX_TEXT),
    }.get(exc.reason, _("Something was missing: please start again with /broadcast."))


# Taking a draft to send it, one at a time: two taps on "Send now" at once would both find
# it and make two broadcasts, everyone getting the message twice.
_TAKING = asyncio.Lock()


async def _create(message: Message, state: FSMContext, db: Database, campaigns: CampaignCache,
                  user: Person, when: datetime | None) -> None:
    campaign = await campaigns.get()
    async with _TAKING:
        data = (await state.get_data()).get(DATA, {})
        if campaign is None or "audience" not in data:
            return
        if (silence := silence_at(campaign, when or clock.utcnow())) is not None:
            await _offer_after(message, state, campaign, silence, data)
            return
        await state.update_data({DATA: {}})  # taken: a tap meanwhile finds no draft
    try:
        broadcast = await create_broadcast(
            db, text=data["text"], visible_length=data["length"], footer=footer(campaign.name),
            audience_kind=data["audience"], audience_value=data.get("audience_value"),
            shift_id=data.get("shift"), scheduled_at=when, actor_id=user.id,
            progress_chat_id=message.chat.id)
    except BroadcastError as exc:
        await state.update_data({DATA: data})  # not sent: the draft is theirs to fix
        await message.answer(_refusal(exc))
        return
    await state.set_state(None)
    status = await message.answer(
        (_("📣 Scheduled for {when:%d/%m %H:%M}: {n} people.").format(
            when=local_time(campaign, when), n=broadcast.total) if when else
         _("📣 Sending to {n} people…").format(n=broadcast.total)),
        reply_markup=cancel_keyboard(broadcast.id or 0))
    await set_progress_message(db, broadcast.id or 0, status.chat.id, status.message_id)
    if when is None:
        await start_due(db)


async def _offer_after(message: Message, state: FSMContext, campaign: Campaign,
                       silence: Silence, data: dict[str, Any]) -> None:
    """A broadcast is a campaign message: none goes during the silence. The first time it
    may go is offered instead."""
    data["after"] = silence.ends_at.isoformat()
    await state.set_state(Compose.when)  # another time written works as well
    await state.update_data({DATA: data})
    builder = InlineKeyboardBuilder()
    builder.button(text=_("🕒 Send on {end:%d/%m} at {end:%H:%M}").format(
        end=local_time(campaign, silence.ends_at)), callback_data=ComposeCB(action="after"))
    builder.button(text=_("Cancel"), callback_data=ComposeCB(action="cancel"))
    builder.adjust(1)
    await message.answer(_("🤫 That falls in the electoral silence: no campaign message "
                           "goes out then (Code électoral, art. L49).") + "\n\n"
                         + silence_line(campaign, silence) + "\n\n"
                         + _("Send it when the polls close, or write another time."),
                         reply_markup=builder.as_markup())

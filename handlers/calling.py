"""The phone bank: /call, the contact card, outcomes, talking points, call-backs."""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.callees import LINK_MESSAGES, delete_link_messages, drop_link_numbers
from handlers.cards import (
    CallBackWhenCB,
    CallFlowCB,
    OutcomeCB,
    TalkingPointCB,
    ask_to_call_keyboard,
    call_back_keyboard,
    card_keyboard,
    card_text,
    contact_name,
    fill_script,
    next_call_keyboard,
    ready_keyboard,
    recorded_text,
    send_link_button,
)
from handlers.proxy import start_for_contact
from storage.calling import (
    CardLimitReached,
    QueueRules,
    Recorded,
    assign_next_contact,
    held_card,
    record_outcome,
)
from storage.campaign_cache import CampaignCache
from storage.campaigns import call_back_time, calling_window
from storage.database import Database
from storage.models import RELEASE_OUTCOMES, Outcome, ProxyKind, VolunteerStatus
from storage.silence import silence_at
from storage.stats import milestone_reached
from storage.users import Person, mark_trained
from ui.filters import MenuButton, PrivateChat
from ui.keyboards import outcome_label
from ui.notify import acknowledge, not_modified, send_safely
from ui.silence import calling_closed_text
from ui.trust import card_limit_text

log = logging.getLogger(__name__)

CARD_MESSAGES = "card_messages"  # FSM key: the chat messages that show the held card


# The proxy outcomes lead the volunteer through the proxy questions for the person.
PROXY_OUTCOMES = {Outcome.NEEDS_PROXY: ProxyKind.NEED, Outcome.CAN_CARRY_PROXY: ProxyKind.OFFER}
# Once recorded, the card keeps "Send Fabrice the link" for those who said yes to something.
LINK_OUTCOMES = frozenset({Outcome.WILL_VOTE, Outcome.UNDECIDED, Outcome.NEEDS_PROXY,
                           Outcome.CAN_CARRY_PROXY, Outcome.WANTS_TO_VOLUNTEER})


def may_call(user: Person, is_organizer: bool) -> bool:
    return is_organizer or user.volunteer_status == VolunteerStatus.APPROVED


def trusted(user: Person, is_organizer: bool) -> bool:
    """Free of the cards-an-hour limit of new callers; organizers are trusted."""
    return user.trusted or is_organizer


async def call_command(message: Message, bot: Bot, db: Database, campaigns: CampaignCache,
                       user: Person, is_organizer: bool, state: FSMContext) -> None:
    await next_contact(message.chat.id, bot, db, campaigns, user, is_organizer, state)


async def next_button(query: CallbackQuery, callback_data: CallFlowCB, bot: Bot, db: Database,
                      campaigns: CampaignCache, user: Person, is_organizer: bool,
                      state: FSMContext) -> None:
    await acknowledge(query)
    # A "ready" press trains only once the practice the campaign asks for is done.
    if (callback_data.action == "ready" and may_call(user, is_organizer)
            and not await _practice_due(campaigns, user, is_organizer)):
        await mark_trained(db, user.id)
        user = replace(user, trained=True)
        if isinstance(query.message, Message):
            with suppress(TelegramAPIError):
                await query.message.edit_reply_markup(reply_markup=None)
    chat_id = query.message.chat.id if query.message else user.id
    await next_contact(chat_id, bot, db, campaigns, user, is_organizer, state)


async def next_contact(chat_id: int, bot: Bot, db: Database, campaigns: CampaignCache,
                       user: Person, is_organizer: bool, state: FSMContext) -> None:
    campaign = await campaigns.get()
    if campaign is None:
        await bot.send_message(chat_id, _("No campaign is running yet. Come back soon!"))
        return
    if not may_call(user, is_organizer):
        await _explain_no_access(bot, chat_id, user)
        return
    if not user.trained:
        await bot.send_message(chat_id, training_text(campaign.script, user.first_name),
                               reply_markup=ready_keyboard(practice_first=await _practice_due(
                                   campaigns, user, is_organizer)))
        return
    if (silence := silence_at(campaign)) is not None:
        await bot.send_message(chat_id, calling_closed_text(campaign, silence))
        return
    window = calling_window(campaign)
    if not window.is_open:
        await bot.send_message(chat_id, _(
            "Calling is closed now: we don't call people between {end} and {start}. "
            "It reopens on {day} at {start}.").format(
            end=campaign.calling_end, start=campaign.calling_start,
            day=window.opens_at.strftime("%d/%m")))
        return
    try:
        card = await assign_next_contact(db, QueueRules.of(campaign), user.id,
                                         trusted=trusted(user, is_organizer))
    except CardLimitReached as limit:
        await bot.send_message(chat_id, card_limit_text(campaign, limit.until, limit.daily))
        return
    if card is None:
        await bot.send_message(chat_id, _(
            "🎉 Nobody left to call right now. Thank you! Try again a little later."),
            reply_markup=next_call_keyboard())
        return
    # Any card still on screen higher up (the same contact, or one whose lease ran out) is
    # removed: one card, one place, one number.
    data = await state.get_data()
    removed = list(data.get(CARD_MESSAGES, []))
    for message_id in removed:
        with suppress(TelegramAPIError):
            await bot.delete_message(chat_id, message_id)
    if data.get(LINK_MESSAGES):  # a ready message of a card left behind: its number goes
        await drop_link_numbers(bot, chat_id, state)
    sent = await bot.send_message(
        chat_id, card_text(card, campaign, user.first_name),
        reply_markup=card_keyboard(card.contact_id, card.lease_seq,
                                   [p["title"] for p in campaign.talking_points],
                                   card.first_name))
    # Re-read: a double tap may have shown the card twice meanwhile; keep both to delete.
    shown = (await state.get_data()).get(CARD_MESSAGES, [])
    await state.update_data(
        {CARD_MESSAGES: [m for m in shown if m not in removed] + [sent.message_id]})


async def _practice_due(campaigns: CampaignCache, user: Person, is_organizer: bool) -> bool:
    """Practice calls still asked of this volunteer before real ones. Organizers, who write
    the script and train the others, may practise but need not."""
    campaign = await campaigns.get()
    required = campaign.practice_calls_required if campaign else 0
    return not is_organizer and user.practice_calls < required


async def _explain_no_access(bot: Bot, chat_id: int, user: Person) -> None:
    status = VolunteerStatus(user.volunteer_status)
    if status is VolunteerStatus.PENDING:
        await bot.send_message(chat_id, _(
            "Your request to make calls is waiting for an organizer. You'll hear from us here."))
    elif status is VolunteerStatus.PAUSED:
        await bot.send_message(chat_id, _(
            "Your calling is paused for now; an organizer will get back to you."))
    else:
        await bot.send_message(chat_id, _(
            "Calls are made by approved volunteers. Would you like to join them?"),
            reply_markup=ask_to_call_keyboard())


def training_text(script: str, volunteer_name: str) -> str:
    example = fill_script(script, volunteer_name, _("(their first name)"))
    return _(
        "<b>Before your first call</b>\n\n"
        "1. Tap the number on the card to dial it. Take your time, smile: it can be heard.\n"
        "2. Follow the script; the 💬 buttons give short answers to the usual objections.\n"
        "3. If asked where we got the number, the card says; anyone who objects is marked "
        "⛔ and never called again.\n"
        "4. After the call, tap the outcome. The number disappears from the chat and the "
        "next contact is one tap away.\n\n"
        "You hold one contact at a time. If you can't call now, tap ⏭ to give it back.\n\n"
        "🎓 A practice call with a fictional contact lets you try every button first: "
        "nothing of it is recorded. /practice brings one back any time."
    ) + "\n\n" + _(
        "Your first name and your count of the day appear in the callers' ranking that "
        "other callers see under /me; the button there takes you out of it."
    ) + "\n\n" + _("<b>The script</b>") + f"\n<i>{escape(example)}</i>"


async def _edit_card(query: CallbackQuery, text: str, *,
                     reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the pressed card in place, so its number leaves the chat. If it cannot be edited
    (too old, a refused edit), it is deleted and the text comes as a new message."""
    message = query.message
    bot = query.bot
    if message is not None and not isinstance(message, InaccessibleMessage):
        try:
            await message.edit_text(text, reply_markup=reply_markup)
            return
        except TelegramAPIError as exc:
            if not_modified(exc):  # a third tap on the same card: it says so already
                return
            log.info("could not edit card %s: %s", message.message_id, exc)
    if bot is None:
        return
    if message is not None:
        try:
            await bot.delete_message(message.chat.id, message.message_id)
        except TelegramAPIError as exc:
            log.warning("a card with a number stays in chat %s: %s", message.chat.id, exc)
    with suppress(TelegramAPIError):
        await bot.send_message(query.from_user.id, text, reply_markup=reply_markup)


async def forget_card_messages(query: CallbackQuery, state: FSMContext) -> None:
    """Delete every shown copy of the card but the pressed message, so the number is gone
    from the whole chat."""
    data = await state.get_data()
    pressed = query.message.message_id if query.message else None
    for message_id in data.get(CARD_MESSAGES, []):
        if message_id != pressed and query.bot:
            with suppress(TelegramAPIError):
                await query.bot.delete_message(query.from_user.id, message_id)
    await state.update_data({CARD_MESSAGES: []})


async def withdraw_cards(bot: Bot, fsm_storage: BaseStorage, volunteer_id: int) -> None:
    """Delete the card(s) a volunteer has on screen once their card was taken back (an
    organizer declined them): the number leaves their chat where Telegram still allows it.
    Best effort: the card's buttons are stale anyway."""
    state = FSMContext(fsm_storage, StorageKey(bot_id=bot.id, chat_id=volunteer_id,
                                               user_id=volunteer_id))
    for message_id in (await state.get_data()).get(CARD_MESSAGES, []):
        with suppress(TelegramAPIError):
            await bot.delete_message(volunteer_id, message_id)
    await state.update_data({CARD_MESSAGES: []})
    await delete_link_messages(bot, volunteer_id, state)


async def call_back_menu(query: CallbackQuery, callback_data: OutcomeCB) -> None:
    await acknowledge(query)
    if isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            await query.message.edit_reply_markup(
                reply_markup=call_back_keyboard(callback_data.contact_id, callback_data.seq))


async def outcome_pressed(query: CallbackQuery, callback_data: OutcomeCB, bot: Bot,
                          db: Database, campaigns: CampaignCache, user: Person,
                          is_organizer: bool, state: FSMContext) -> None:
    await acknowledge(query)
    await _record(query, callback_data.contact_id, callback_data.seq, callback_data.outcome,
                  None, bot, db, campaigns, user, is_organizer, state)


async def call_back_chosen(query: CallbackQuery, callback_data: CallBackWhenCB, bot: Bot,
                           db: Database, campaigns: CampaignCache, user: Person,
                           is_organizer: bool, state: FSMContext) -> None:
    await acknowledge(query)
    campaign = await campaigns.get()
    if campaign is None:
        return
    if callback_data.when == "back":
        card = await held_card(db, QueueRules.of(campaign), user.id, callback_data.contact_id,
                               callback_data.seq)
        if card is not None and isinstance(query.message, Message):
            with suppress(TelegramAPIError):
                await query.message.edit_reply_markup(reply_markup=card_keyboard(
                    card.contact_id, card.lease_seq, [p["title"] for p in campaign.talking_points],
                    card.first_name))
        return
    try:
        when = call_back_time(campaign, callback_data.when)
    except ValueError:
        return
    await _record(query, callback_data.contact_id, callback_data.seq, Outcome.CALL_BACK, when,
                  bot, db, campaigns, user, is_organizer, state)


async def _record(query: CallbackQuery, contact_id: int, seq: int, outcome: Outcome,
                  call_back_at: datetime | None, bot: Bot, db: Database, campaigns: CampaignCache,
                  user: Person, is_organizer: bool, state: FSMContext) -> None:
    """Record the press. Whatever it implies for others (a pause, a ⛔ to confirm) is queued
    by the storage operation itself; what follows here is this chat's own reply."""
    campaign = await campaigns.get()
    if campaign is None:
        return
    result = await record_outcome(db, QueueRules.of(campaign), user.id, contact_id, seq, outcome,
                                  call_back_at=call_back_at, trusted=trusted(user, is_organizer))
    if result.status is not Recorded.NOT_YOURS:  # the number leaves the ready messages too
        await drop_link_numbers(bot, query.from_user.id, state)
    if result.status is Recorded.ALREADY:
        await _edit_card(query, _("This call was already recorded. Nothing changed."),
                         reply_markup=next_call_keyboard())
        return
    if result.status is Recorded.NOT_YOURS:
        await send_safely(bot, db, query.from_user.id, _(
            "This card belongs to another volunteer: nothing was recorded."))
        return
    if result.status is Recorded.EXPIRED and not may_call(user, is_organizer):
        # Paused or declined while holding it: the card was taken back at that moment.
        await _edit_card(query, _(
            "You can't make calls for now, so this contact went back to the queue. "
            "Nothing was recorded."))
        await state.update_data({CARD_MESSAGES: []})
        return
    if result.status is Recorded.EXPIRED:
        await _edit_card(query, _(
            "This card has expired and the contact went back to the queue. "
            "Nothing was recorded."), reply_markup=next_call_keyboard())
        await state.update_data({CARD_MESSAGES: []})
        return
    await forget_card_messages(query, state)
    if result.status is Recorded.HELD:
        await _edit_card(query, _(
            "⛔ Thank you. An organizer will confirm that {name} is not called again; "
            "meanwhile nobody will call them.").format(
            name=contact_name(result.contact_first_name)), reply_markup=next_call_keyboard())
        return
    if outcome is Outcome.SKIPPED:
        text = _("⏭ Skipped: the contact goes back to the queue.")
    elif outcome is Outcome.DO_NOT_CALL:
        text = _("⛔ {name} will never be called again. Thank you.").format(
            name=contact_name(result.contact_first_name))
    else:
        text = recorded_text(result.contact_first_name, outcome_label(outcome))
    keyboard = next_call_keyboard()
    if outcome in LINK_OUTCOMES:  # the link can still be sent: without the number now
        keyboard.inline_keyboard.insert(0, [send_link_button(contact_id, seq,
                                                             result.contact_first_name)])
    await _edit_card(query, text, reply_markup=keyboard)
    if outcome not in RELEASE_OUTCOMES and (reached := await milestone_reached(db, user.id)):
        await send_safely(bot, db, query.from_user.id, _(
            "🎉 That was your call number {n}! Thank you, {name}: every call counts.").format(
            n=reached, name=escape(user.first_name)))
    if outcome in PROXY_OUTCOMES and isinstance(query.message, Message):
        await start_for_contact(query.message, state, db, user, contact_id,
                                PROXY_OUTCOMES[outcome])


async def talking_point(query: CallbackQuery, callback_data: TalkingPointCB, db: Database,
                        campaigns: CampaignCache, user: Person, is_organizer: bool) -> None:
    campaign = await campaigns.get()
    card = None
    if campaign is not None and may_call(user, is_organizer):
        card = await held_card(db, QueueRules.of(campaign), user.id, callback_data.contact_id,
                               callback_data.seq)
    if card is None or campaign is None:
        await acknowledge(query, _("This card is no longer yours."), show_alert=True)
        return
    await acknowledge(query)
    if isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            await query.message.edit_text(
                card_text(card, campaign, user.first_name, talking_point=callback_data.index),
                reply_markup=query.message.reply_markup)


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="calling")
    # Contact cards only ever go to a volunteer's private chat, never to a group.
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())
    router.message.register(call_command, Command("call"))
    router.message.register(call_command, MenuButton("📞 Next call"))
    router.callback_query.register(next_button, CallFlowCB.filter(F.action.in_({"next", "ready"})))
    router.callback_query.register(call_back_menu, OutcomeCB.filter(F.outcome == Outcome.CALL_BACK))
    router.callback_query.register(outcome_pressed, OutcomeCB.filter())
    router.callback_query.register(call_back_chosen, CallBackWhenCB.filter())
    router.callback_query.register(talking_point, TalkingPointCB.filter())
    return router

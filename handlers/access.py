"""Who may call: asking to volunteer, organizers approving or declining, pauses, and the
do-not-call presses the harvest guard holds for an organizer.

Every message a change implies is queued by the storage operation that makes it (the
outbox, rendered here); a handler's own edit after the commit is best effort.
"""

from __future__ import annotations

from contextlib import suppress
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callees import would_volunteer_text
from handlers.calling import withdraw_cards
from handlers.cards import CallFlowCB
from handlers.doors import organizer_router, personal_data_router
from handlers.trust import trust_button, untrusted_list
from storage.calling import PauseReason
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.dnc_holds import decide_hold, hold_view
from storage.models import VolunteerStatus
from storage.outbox import Delivery, NoticeKind
from storage.users import Person, decide_volunteer, get_user, pending_volunteers, request_to_call
from ui.keyboards import main_menu
from ui.notify import acknowledge, send_safely
from ui.renderers import Renderers

Rendered = tuple[str, dict[str, Any]] | None


class VolunteerDecisionCB(CallbackData, prefix="vol"):
    user_id: int
    approve: bool


class DncHoldCB(CallbackData, prefix="dnch"):
    hold: int
    confirm: bool


def decision_keyboard(user_id: int, resume: bool = False) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("▶️ Resume") if resume else _("✅ Approve"),
                   callback_data=VolunteerDecisionCB(user_id=user_id, approve=True))
    builder.button(text=_("❌ Decline"),
                   callback_data=VolunteerDecisionCB(user_id=user_id, approve=False))
    if not resume:  # someone the organizer knows calls without a limit from the start
        builder.add(trust_button(user_id, approve=True))
        builder.adjust(2, 1)
    return builder.as_markup()


def hold_keyboard(hold_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("⛔ Confirm: never call again"),
                   callback_data=DncHoldCB(hold=hold_id, confirm=True))
    builder.button(text=_("↩️ Back to the queue"),
                   callback_data=DncHoldCB(hold=hold_id, confirm=False))
    builder.adjust(1)
    return builder.as_markup()


def decision_message(approved: bool, resumed: bool = False) -> tuple[str, dict[str, object]]:
    """What the person who asked to call is told of the organizers' decision."""
    if approved and resumed:
        return (_("▶️ Your calling is resumed. Tap 📞 Next call when you are ready."),
                {"reply_markup": main_menu(True)})
    if approved:
        return (_("🎉 You are approved! Tap 📞 Next call to start."),
                {"reply_markup": main_menu(True)})
    return (_("Thank you for offering. The organizers can't take you on as a caller for now; "
              "there are many other ways to help."), {})


def describe(user: Person) -> str:
    handle = f" (@{escape(user.username)})" if user.username else ""
    return f"{escape(user.first_name or str(user.id))}{handle}"


async def ask_to_call(query: CallbackQuery, bot: Bot, db: Database, user: Person) -> None:
    await acknowledge(query)
    request = await request_to_call(db, user.id)
    if request.changed:  # the organizers' alert and the person's word are queued with it
        return
    if request.status is VolunteerStatus.APPROVED:
        text, extra = _("You are already a volunteer: tap 📞 Next call."), {
            "reply_markup": main_menu(True)}
    elif request.status is VolunteerStatus.PAUSED:
        text, extra = _("Your calling is paused for now; an organizer will get back to you."), {}
    else:  # pending already
        text, extra = _("Your request is already with the organizers."), {}
    await send_safely(bot, db, user.id, text, **extra)


async def decide(query: CallbackQuery, callback_data: VolunteerDecisionCB, bot: Bot,
                 db: Database, user: Person, fsm_storage: BaseStorage) -> None:
    await acknowledge(query)
    decision = await decide_volunteer(db, callback_data.user_id, callback_data.approve,
                                      actor_id=user.id, create=False)
    volunteer = decision.user
    name = describe(volunteer) if volunteer else ""
    if volunteer is None:  # erased their data since they asked: no id on screen either
        text = _("This person has erased their data since: nothing to decide.")
    elif not decision.changed:
        text = _("{who}: already decided, nothing changed.").format(who=name)
    elif callback_data.approve:
        text = _("✅ {who} approved by {organizer}.").format(who=name,
                                                           organizer=escape(user.first_name))
    else:
        text = _("❌ {who} declined by {organizer}.").format(who=name,
                                                           organizer=escape(user.first_name))
    markup = None
    if volunteer is not None and decision.changed and callback_data.approve and (
            not volunteer.trusted and not volunteer.is_organizer):
        markup = InlineKeyboardMarkup(inline_keyboard=[[trust_button(volunteer.id)]])
    if query.message is not None and isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            await query.message.edit_text(text, reply_markup=markup)
    if decision.changed and not callback_data.approve:
        # Their card went back to the queue with the decision; its number leaves the chat.
        await withdraw_cards(bot, fsm_storage, callback_data.user_id)


async def volunteers(message: Message, db: Database, campaigns: CampaignCache) -> None:
    waiting = await pending_volunteers(db)
    if not waiting:
        await message.answer(_("Nobody is waiting for approval."))
    for person in waiting:
        paused = person.volunteer_status == VolunteerStatus.PAUSED
        label = _("⏸ {who} (paused)") if paused else _("🙋 {who} (waiting)")
        await message.answer(label.format(who=describe(person)),
                             reply_markup=decision_keyboard(person.id, resume=paused))
    if (untrusted := await untrusted_list(db)) is not None:
        text, keyboard = untrusted
        await message.answer(text, reply_markup=keyboard)
    # In a private chat only (the router's door): callees' numbers, to call them back.
    callees = await would_volunteer_text(db, campaigns)
    if callees:
        await message.answer(callees)


async def hold_decided(query: CallbackQuery, callback_data: DncHoldCB, db: Database,
                       user: Person) -> None:
    """An organizer confirms a held ⛔ (the number goes on the list) or sends the contact
    back to the queue. Organizers only: it sits on the feature's organizer router."""
    await acknowledge(query)
    decision = await decide_hold(db, callback_data.hold, callback_data.confirm,
                                 actor_id=user.id)
    view = decision.view
    contact = escape((view.contact_first_name if view else None) or "?")
    organizer = escape(user.first_name)
    if not decision.changed:
        text = _("⛔ {contact}: already decided, nothing changed.").format(contact=contact)
    elif callback_data.confirm:
        text = _("⛔ Confirmed by {organizer}: {contact} will never be called again.").format(
            organizer=organizer, contact=contact)
    else:
        text = _("↩️ {contact} went back to the queue ({organizer}).").format(
            contact=contact, organizer=organizer)
    if isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            await query.message.edit_text(text)


def pause_alert(name: str, reason: str, count: int) -> str:
    if reason == PauseReason.UNANSWERED:
        text = _("⚠️ {name} left many contacts unanswered in an hour and was paused. "
                 "Resume their calling?")
    elif reason == PauseReason.CARDS:
        text = _("⚠️ {name} went through {count} contacts in an hour, more than calls can "
                 "take, and was paused. Resume their calling?")
    elif reason == PauseReason.DNC:
        text = _("⚠️ {name} pressed “Do not call again” too fast {count} times in an hour "
                 "and was paused. Resume their calling?")
    else:
        text = _("⚠️ {name} gave back {count} contacts in an hour and was paused. "
                 "Resume their calling?")
    return text.format(name=name, count=count)


def pause_notice(reason: str) -> str:
    if reason == PauseReason.UNANSWERED:
        return _("Several contacts you held were left unanswered in the last hour, so your "
                 "calling is paused. An organizer will get back to you.")
    if reason in (PauseReason.CARDS, PauseReason.DNC):
        return _("You went through many contacts very quickly, so your calling is paused "
                 "for now. An organizer will get back to you.")
    return _("You have given back many contacts in the last hour, so your calling is "
             "paused. An organizer will get back to you.")


async def request_text(db: Database, volunteer: Person, caller_id: object) -> str:
    """The organizers' alert; a request made on a call names who made the call."""
    if caller_id is None:
        return _("🙋 {who} would like to make calls.").format(who=describe(volunteer))
    caller = await get_user(db, int(str(caller_id)))
    return _("🙋 {who} would like to make calls (after a call with {caller}).").format(
        who=describe(volunteer), caller=escape(caller.first_name)
        if caller and not caller.forgotten else _("a volunteer"))


def make_renderers(db: Database) -> Renderers:
    """The outbox's messages of this feature, drawn when their turn comes: one whose moment
    has passed (an alert already answered, a pause already lifted) is not sent."""

    async def volunteer_of(delivery: Delivery, status: VolunteerStatus) -> Person | None:
        volunteer = await get_user(db, int(delivery.params["volunteer"]))
        return volunteer if volunteer and volunteer.volunteer_status is status else None

    async def request(delivery: Delivery, _user: Person) -> Rendered:
        volunteer = await volunteer_of(delivery, VolunteerStatus.PENDING)
        if volunteer is None:
            return None
        return (await request_text(db, volunteer, delivery.params.get("caller")),
                {"reply_markup": decision_keyboard(volunteer.id)})

    async def request_sent(_delivery: Delivery, user: Person) -> Rendered:
        if user.volunteer_status is not VolunteerStatus.PENDING:
            return None
        return _("Thank you! Your request went to the organizers; you'll hear from us here."), {}

    async def decision(delivery: Delivery, user: Person) -> Rendered:
        approved = bool(delivery.params["approved"])
        expected = VolunteerStatus.APPROVED if approved else VolunteerStatus.DECLINED
        if user.volunteer_status is not expected:  # decided otherwise since
            return None
        text, extra = decision_message(approved, bool(delivery.params.get("resumed")))
        return text, dict(extra)

    async def paused(delivery: Delivery, _user: Person) -> Rendered:
        volunteer = await volunteer_of(delivery, VolunteerStatus.PAUSED)
        if volunteer is None:
            return None
        return (pause_alert(escape(volunteer.first_name), str(delivery.params["reason"]),
                            int(delivery.params["count"])),
                {"reply_markup": decision_keyboard(volunteer.id, resume=True)})

    async def calling_paused(delivery: Delivery, user: Person) -> Rendered:
        if user.volunteer_status is not VolunteerStatus.PAUSED:
            return None
        return pause_notice(str(delivery.params["reason"])), {}

    async def dnc_held(delivery: Delivery, _user: Person) -> Rendered:
        view = await hold_view(db, int(delivery.params["hold"]))
        if view is None or view.status != "held":
            return None
        return (_("⛔ {volunteer} marked {contact} “Do not call again” {seconds} s after "
                  "getting the card, sooner or more often than a call allows. Put the number "
                  "on the do-not-call list for good?").format(
            volunteer=escape(view.volunteer_name or "?"),
            contact=escape(view.contact_first_name or "?"), seconds=view.seconds_held),
            {"reply_markup": hold_keyboard(view.id)})

    return {
        NoticeKind.VOLUNTEER_REQUEST: request,
        NoticeKind.VOLUNTEER_REQUEST_SENT: request_sent,
        NoticeKind.VOLUNTEER_DECISION: decision,
        NoticeKind.VOLUNTEER_PAUSED: paused,
        NoticeKind.CALLING_PAUSED: calling_paused,
        NoticeKind.DNC_HELD: dnc_held,
    }


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="access")
    router.callback_query.register(ask_to_call, CallFlowCB.filter(F.action == "ask"))
    organizers = organizer_router("access")
    organizers.callback_query.register(decide, VolunteerDecisionCB.filter())
    organizers.callback_query.register(hold_decided, DncHoldCB.filter())
    personal = personal_data_router("access")  # names with usernames
    personal.message.register(volunteers, Command("volunteers"))
    organizers.include_router(personal)
    router.include_router(organizers)
    return router

"""Who may call: asking to volunteer, organizers approving or declining."""

from __future__ import annotations

from contextlib import suppress
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.keyboards import CallFlowCB, VolunteerDecisionCB, decision_keyboard, main_menu
from bot.notify import acknowledge, notify_organizers, send_localized, send_safely
from handlers.doors import organizer_router, personal_data_router
from storage.database import Database
from storage.models import User, VolunteerStatus
from storage.users import Person, decide_volunteer, pending_volunteers, request_to_call


def decision_message(approved: bool) -> tuple[str, dict[str, object]]:
    """What the person who asked to call is told of the organizers' decision."""
    if approved:
        return (_("🎉 You are approved! Tap 📞 Next call to start."),
                {"reply_markup": main_menu(True)})
    return (_("Thank you for offering. The organizers can't take you on as a caller for now; "
              "there are many other ways to help."), {})


def describe(user: Person | User) -> str:
    handle = f" (@{escape(user.username)})" if user.username else ""
    return f"{escape(user.first_name or str(user.id))}{handle}"


async def ask_to_call(query: CallbackQuery, bot: Bot, db: Database, i18n: I18n,
                      user: Person) -> None:
    await acknowledge(query)
    request = await request_to_call(db, user.id)
    status = request.status
    if status is VolunteerStatus.APPROVED:
        await bot.send_message(user.id, _("You are already a volunteer: tap 📞 Next call."),
                               reply_markup=main_menu(True))
        return
    if status is VolunteerStatus.PAUSED:
        await bot.send_message(user.id, _(
            "Your calling is paused for now; an organizer will get back to you."))
        return
    if not request.changed:  # pending already
        await bot.send_message(user.id, _("Your request is already with the organizers."))
        return
    who = describe(user)
    await notify_organizers(bot, db, i18n, lambda: (
        _("🙋 {who} would like to make calls.").format(who=who),
        {"reply_markup": decision_keyboard(user.id)}))
    await send_safely(bot, db, user.id, _(
        "Thank you! Your request went to the organizers; you'll hear from us here."))


async def decide(query: CallbackQuery, callback_data: VolunteerDecisionCB, bot: Bot,
                 db: Database, i18n: I18n, user: Person) -> None:
    await acknowledge(query)
    decision = await decide_volunteer(db, callback_data.user_id, callback_data.approve,
                                      actor_id=user.id)
    volunteer = decision.user
    name = describe(volunteer) if volunteer else str(callback_data.user_id)
    if not decision.changed:
        text = _("{who}: already decided, nothing changed.").format(who=name)
    elif callback_data.approve:
        text = _("✅ {who} approved by {organizer}.").format(who=name,
                                                           organizer=escape(user.first_name))
    else:
        text = _("❌ {who} declined by {organizer}.").format(who=name,
                                                           organizer=escape(user.first_name))
    if query.message is not None and isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            await query.message.edit_text(text)
    if decision.changed and volunteer is not None:
        await send_localized(bot, db, i18n, volunteer,
                             lambda: decision_message(callback_data.approve))


async def volunteers(message: Message, db: Database) -> None:
    waiting = await pending_volunteers(db)
    if not waiting:
        await message.answer(_("Nobody is waiting for approval."))
        return
    for person in waiting:
        paused = person.volunteer_status == VolunteerStatus.PAUSED
        label = _("⏸ {who} (paused)") if paused else _("🙋 {who} (waiting)")
        await message.answer(label.format(who=describe(person)),
                             reply_markup=decision_keyboard(person.id, resume=paused))


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="access")
    router.callback_query.register(ask_to_call, CallFlowCB.filter(F.action == "ask"))
    organizers = organizer_router("access")
    organizers.callback_query.register(decide, VolunteerDecisionCB.filter())
    personal = personal_data_router("access")  # names with usernames
    personal.message.register(volunteers, Command("volunteers"))
    organizers.include_router(personal)
    router.include_router(organizers)
    return router

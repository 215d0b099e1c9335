"""Graduated trust, the organizers' side: the 🤝 Trust button (on a request to call, once
approved, and in /volunteers), and the word to the person once trusted, by an organizer or
by their own calls (storage.calling.trust)."""

from __future__ import annotations

from contextlib import suppress
from html import escape

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.doors import organizer_router
from storage.database import Database
from storage.outbox import Delivery, NoticeKind
from storage.trust import trust_volunteer, untrusted_volunteers
from storage.users import Person
from ui.keyboards import main_menu
from ui.notify import acknowledge
from ui.renderers import Rendered, Renderers


class TrustCB(CallbackData, prefix="trust"):
    user_id: int
    approve: bool = False  # on a request still waiting: approve and trust in one tap


def trust_button(user_id: int, *, approve: bool = False) -> InlineKeyboardButton:
    label = _("🤝 Approve and trust") if approve else _("🤝 Trust")
    return InlineKeyboardButton(text=label, callback_data=TrustCB(user_id=user_id,
                                                                  approve=approve).pack())


def _name(user: Person) -> str:
    handle = f" (@{escape(user.username)})" if user.username else ""
    return f"{escape(user.first_name or str(user.id))}{handle}"


async def untrusted_list(db: Database) -> tuple[str, InlineKeyboardMarkup] | None:
    """/volunteers' second part: the approved callers not yet trusted, one button each."""
    people = await untrusted_volunteers(db)
    if not people:
        return None
    rows = [[InlineKeyboardButton(
        text=_("🤝 Trust {who}").format(who=person.first_name or str(person.id)),
        callback_data=TrustCB(user_id=person.id).pack())] for person in people]
    return _(
        "Callers not yet trusted (a limit of cards an hour and a day; it goes by itself "
        "after enough calls without a pause). Trust someone you know:"), (
        InlineKeyboardMarkup(inline_keyboard=rows))


async def trust_pressed(query: CallbackQuery, callback_data: TrustCB, db: Database,
                        user: Person) -> None:
    await acknowledge(query)
    result = await trust_volunteer(db, callback_data.user_id, actor_id=user.id,
                                   approve=callback_data.approve)
    if result.user is None:
        text = _("This person has erased their data since: nothing to decide.")
    elif not result.changed:
        text = _("{who} is trusted already: nothing changed.").format(who=_name(result.user))
    elif result.approved:
        text = _("✅🤝 {who} approved and trusted by {organizer}.").format(
            who=_name(result.user), organizer=escape(user.first_name))
    else:
        text = _("🤝 {who} trusted by {organizer}: no more limit of cards.").format(
            who=_name(result.user), organizer=escape(user.first_name))
    if isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            if query.message.reply_markup and len(query.message.reply_markup.inline_keyboard) > 1:
                # /volunteers' list: that one line says so, the others stay.
                await query.message.answer(text)
            else:
                await query.message.edit_text(text)


def make_renderers() -> Renderers:
    async def trusted(delivery: Delivery, user: Person) -> Rendered:
        if not user.trusted:
            return None
        calls = int(delivery.params.get("calls", 0))
        if calls:
            text = _("🤝 {calls} calls without a pause: thank you! You are a trusted caller "
                     "now, with no more limit of cards an hour or a day.").format(calls=calls)
        else:
            text = _("🤝 An organizer trusts you: no more limit of cards an hour or a day. "
                     "Thank you!")
        return text, {"reply_markup": main_menu(True)}

    return {NoticeKind.TRUSTED: trusted}


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="trust")
    organizers = organizer_router("trust")
    organizers.callback_query.register(trust_pressed, TrustCB.filter())
    router.include_router(organizers)
    return router

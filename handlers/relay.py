"""Ask the organizers: a volunteer's question goes to the organizers' group (or to each
organizer); a reply to it comes back to the volunteer, from "the organizers" unless the
organizer who wrote it signs it. Organizers see the card as the volunteer does, never the
number. Both ways go through the outbox (storage.relay), queued with the relay row."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyParameters
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.doors import organizer_router
from storage import clock
from storage.calling import QueueRules, current_card
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.outbox import Delivery, NoticeKind
from storage.relay import (
    ASKS_PER_HOUR,
    AskCheck,
    Asker,
    Refusal,
    Replied,
    Signing,
    answer,
    answer_question,
    ask_organizers,
    may_ask,
    question,
    replied_to,
    sign_answer,
)
from storage.users import Person, get_user
from ui.filters import MenuButton, PrivateChat
from ui.i18n import SUPPORTED, pick_locale
from ui.notify import MAX_TEXT, acknowledge, telegram_length, utf16_length
from ui.renderers import Renderers


class SignCB(CallbackData, prefix="sign"):
    relay: int  # the answer as delivered


class Ask(StatesGroup):
    question = State()


# ---- the texts, as each side sees them -----------------------------------------------------

def question_text(who: str, about: dict[str, str] | None, question_html: str) -> str:
    if about:
        return _("❓ {who} asks {about}:\n{question}\n\n<i>Reply to this message to "
                 "answer.</i>").format(
            who=escape(who), question=question_html,
            about=_("(on the phone with {name}, {place})").format(
                name=escape(about.get("name") or "?"), place=escape(about.get("place") or "")))
    return _("❓ {who} asks:\n{question}\n\n<i>Reply to this message to answer.</i>").format(
        who=escape(who), question=question_html)


def answer_text(answer_html: str, signer: str | None) -> str:
    if signer is None:
        return _("💬 The organizers: {answer}").format(answer=answer_html)
    return _("💬 {name} (organizer): {answer}").format(name=escape(signer), answer=answer_html)


def _room_for_question(i18n: I18n, who: str, about: dict[str, str] | None) -> int:
    """What is left of Telegram's limit once the header is there, in whichever language
    the organizers read it."""
    header = 0
    for locale in SUPPORTED:
        with i18n.context(), i18n.use_locale(locale):
            header = max(header, telegram_length(question_text(who, about, "")))
    return MAX_TEXT - header


def _room_for_answer(i18n: I18n, locale: str, signer: str) -> int:
    """Room left with the longer header, signed: signing later must still fit."""
    with i18n.context(), i18n.use_locale(locale):
        return MAX_TEXT - max(telegram_length(answer_text("", None)),
                              telegram_length(answer_text("", signer)))


def _refusal(check: AskCheck) -> str | None:
    if check.refusal == Refusal.UNKNOWN:
        return _("/ask is for the campaign's volunteers and supporters. Join a shift "
                 "(/shifts), give or carry a vote proxy (/proxy), or offer to make calls "
                 "(/start), and you can ask the organizers here.")
    if check.refusal == Refusal.LIMIT and check.again_at is not None:
        minutes = max(1, math.ceil((check.again_at - clock.utcnow()).total_seconds() / 60))
        return _("You have asked {n} questions in the last hour. You can ask again in "
                 "{minutes} minutes.").format(n=ASKS_PER_HOUR, minutes=minutes)
    if check.refusal == Refusal.NOBODY:
        return _("Sorry, no organizer could be reached. Try again later.")
    return None


# ---- the volunteer asks ----------------------------------------------------------------------

async def ask_command(message: Message, state: FSMContext, db: Database, user: Person,
                      is_organizer: bool) -> None:
    refusal = _refusal(await may_ask(db, user.id, is_organizer))
    if refusal is not None:
        await state.set_state(None)
        await message.answer(refusal)
        return
    await state.set_state(Ask.question)
    await message.answer(_("Write your question for the organizers (the person on the phone "
                           "can wait a moment)."))


async def question_written(message: Message, state: FSMContext, db: Database,
                           campaigns: CampaignCache, i18n: I18n, organizer_chat_id: int | None,
                           user: Person, is_organizer: bool) -> None:
    campaign = await campaigns.get()
    card = await current_card(db, QueueRules.of(campaign), user.id) if campaign else None
    # What the volunteer sees of the contact, never the number.
    about = None if card is None else {"name": card.first_name or "?",
                                       "place": card.constituency or card.commune or ""}
    room = _room_for_question(i18n, user.first_name, about)
    length = utf16_length(message.text or "")
    if length > room:  # refused now, with the count: not "could not be reached" later
        await message.answer(_("Your question is too long to be relayed: {n} characters, "
                               "at most {max} fit with the organizers' header. Please "
                               "shorten it and send it again.").format(n=length, max=room))
        return
    await state.set_state(None)
    asked = await ask_organizers(db, user.id, is_organizer, message.html_text, about,
                                 organizer_chat_id)
    await message.answer(_refusal(asked) or _(
        "Sent to the organizers: their answer will come here."))


# ---- an organizer answers ------------------------------------------------------------------

async def relayed_question_replied(message: Message, db: Database) -> bool | dict[str, Replied]:
    """The filter of an organizer's reply: it passes with the question it answers, and lets
    any other reply (organizers talking among themselves) go on to the routers after this
    one."""
    original = message.reply_to_message
    if original is None:
        return False
    replied = await replied_to(db, original.chat.id, original.message_id)
    return False if replied is None else {"replied": replied}


async def reply_from_organizer(message: Message, db: Database, i18n: I18n, user: Person,
                               replied: Replied) -> None:
    if replied.asker == Asker.GONE:
        await message.reply(_("This person has erased their data since: your answer "
                              "reaches nobody."))
        return
    if replied.asker == Asker.BLOCKED:
        await message.reply(_("They have blocked the bot: this answer cannot reach them."))
        return
    room = _room_for_answer(i18n, pick_locale(replied.language_code, i18n.default_locale),
                            user.first_name)
    length = utf16_length(message.text or "")
    if length > room:
        await message.reply(_("Your answer is too long: {n} characters, at most {max} fit "
                              "with its header. Please shorten it and reply again.").format(
            n=length, max=room))
        return
    relay_id = await answer_question(db, replied.volunteer_id, user.id, message.html_text,
                                     reply=(message.chat.id, message.message_id))
    if relay_id is None:  # erased a moment ago
        await message.reply(_("This person has erased their data since: your answer "
                              "reaches nobody."))
        return
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✍️ Sign it with my name"), callback_data=SignCB(relay=relay_id))
    await message.reply(_("Sent, from \"the organizers\"."), reply_markup=builder.as_markup())


async def sign_pressed(query: CallbackQuery, callback_data: SignCB, bot: Bot, db: Database,
                       i18n: I18n, user: Person) -> None:
    signature = await sign_answer(db, callback_data.relay, user.id)
    refusals = {
        Signing.NOT_AUTHOR: _("Only the organizer who wrote this answer can sign it."),
        Signing.ALREADY: _("Already signed."),
        Signing.GONE: _("Already finished or cancelled."),
        Signing.BLOCKED: _("This answer did not reach them: they have blocked the bot."),
        Signing.UNDELIVERED: _("This answer could not be delivered."),
    }
    if signature.outcome != Signing.SIGNED:
        await acknowledge(query, refusals[signature.outcome],
                          show_alert=signature.outcome == Signing.NOT_AUTHOR)
        return
    await acknowledge(query, _("Signed."))
    if isinstance(query.message, Message):  # best effort: the signature is recorded
        try:
            await query.message.edit_reply_markup(reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[]))
        except TelegramAPIError:
            pass
    signed = signature.answer
    if signed is None or signature.message_id is None:
        return  # not delivered yet: the deliverer sends it signed
    volunteer = await get_user(db, signed.volunteer_id)
    with i18n.context(), i18n.use_locale(pick_locale(
            volunteer.language_code if volunteer else None, i18n.default_locale)):
        text = answer_text(signed.answer, signed.signer)
    try:
        await bot.edit_message_text(text, chat_id=signature.chat_id,
                                    message_id=signature.message_id)
    except TelegramAPIError:  # the volunteer deleted it: nothing to sign
        return


# ---- what the deliverer sends --------------------------------------------------------------

def make_renderers(db: Database) -> Renderers:
    async def relayed_question(delivery: Delivery,
                               _to: Person) -> tuple[str, dict[str, Any]] | None:
        asked = await question(db, int(delivery.params["relay"]))
        if asked is None:  # erased (/forget) before it left
            return None
        return question_text(asked.first_name, delivery.params.get("about"), asked.question), {}

    async def relayed_answer(delivery: Delivery,
                             _to: Person) -> tuple[str, dict[str, Any]] | None:
        answered = await answer(db, int(delivery.params["relay"]))
        if answered is None:
            return None
        return answer_text(answered.answer, answered.signer), {}

    async def undelivered(delivery: Delivery,
                          _to: Person) -> tuple[str, dict[str, Any]] | None:
        text = (_("This answer did not reach them: they have blocked the bot.")
                if delivery.params.get("blocked") else _("This answer could not be delivered."))
        return "❗ " + text, {"reply_parameters": ReplyParameters(
            message_id=int(delivery.params["reply_to"]), allow_sending_without_reply=True)}

    return {
        NoticeKind.RELAY_QUESTION: relayed_question,
        NoticeKind.RELAY_ANSWER: relayed_answer,
        NoticeKind.RELAY_UNDELIVERED: undelivered,
    }


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="relay")
    router.message.register(ask_command, Command("ask"), PrivateChat())
    router.message.register(ask_command, MenuButton("🙋 Ask the organizers"))
    router.message.register(question_written, StateFilter(Ask.question), F.text,
                            ~F.text.startswith("/"), PrivateChat())
    organizers = organizer_router("relay")
    organizers.message.register(reply_from_organizer, F.reply_to_message, F.text,
                                 ~F.text.startswith("/"), relayed_question_replied)
    organizers.callback_query.register(sign_pressed, SignCB.filter())
    router.include_router(organizers)
    return router

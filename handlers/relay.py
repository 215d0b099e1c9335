"""Ask the organizers: a volunteer's question goes to the organizers' group (or to each
organizer); a reply to it comes back to the volunteer, from "the organizers" unless the
organizer signs it. Organizers see the card as the volunteer does, never the number."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.campaign_cache import CampaignCache
from bot.config import Settings
from bot.filters import MenuButton, PrivateChat
from bot.notify import acknowledge, send_localized, send_safely
from storage.calling import QueueRules, current_card
from storage.database import Database
from storage.relay import delivered_answer, record_relay, relayed_to
from storage.users import Person, get_user, organizers


class SignCB(CallbackData, prefix="sign"):
    relay: int  # the answer as delivered


class Ask(StatesGroup):
    question = State()


async def ask_command(message: Message, state: FSMContext) -> None:
    await state.set_state(Ask.question)
    await message.answer(_("Write your question for the organizers (the person on the phone "
                           "can wait a moment)."))


async def question_written(message: Message, state: FSMContext, bot: Bot, db: Database,
                           campaigns: CampaignCache, i18n: I18n, settings: Settings,
                           user: Person) -> None:
    await state.set_state(None)
    campaign = await campaigns.get()
    card = await current_card(db, QueueRules.of(campaign), user.id) if campaign else None
    about = ""
    if card is not None:  # what the volunteer sees of the contact, never the number
        about = _("(on the phone with {name}, {place})").format(
            name=escape(card.first_name or "?"),
            place=escape(card.constituency or card.commune or ""))

    def build() -> tuple[str, dict[str, object]]:
        return (_("❓ {who} asks {about}:\n{question}\n\n<i>Reply to this message to "
                  "answer.</i>").format(who=escape(user.first_name), about=about,
                                        question=message.html_text), {})

    targets: list[Message | None] = []
    if settings.organizer_chat_id is not None:
        with i18n.context(), i18n.use_locale(i18n.default_locale):
            text, _kwargs = build()
        targets.append(await send_safely(bot, db, settings.organizer_chat_id, text))
    else:
        for organizer in await organizers(db):
            targets.append(await send_localized(bot, db, i18n, organizer, build))
    sent = [m for m in targets if m is not None]
    for relayed in sent:
        await record_relay(db, user.id, relayed.chat.id, relayed.message_id)
    await message.answer(_("Sent to the organizers: their answer will come here.") if sent
                         else _("Sorry, no organizer could be reached. Try again later."))


async def reply_from_organizer(message: Message, bot: Bot, db: Database, i18n: I18n,
                               is_organizer: bool) -> None:
    original = message.reply_to_message
    if original is None or not is_organizer:
        return
    volunteer_id = await relayed_to(db, original.chat.id, original.message_id)
    if volunteer_id is None:
        return
    volunteer = await get_user(db, volunteer_id)
    if volunteer is None or volunteer.forgotten:  # the question stays, under an anonymous id
        await message.reply(_("This person has erased their data since: your answer "
                              "reaches nobody."))
        return
    answer_html = message.html_text
    sent = await send_localized(bot, db, i18n, volunteer, lambda: (
        _("💬 The organizers: {answer}").format(answer=answer_html), {}))
    if sent is None:
        await message.reply(_("The volunteer could not be reached."))
        return
    relay_id = await record_relay(db, volunteer_id, sent.chat.id, sent.message_id,
                                  answer=answer_html)
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✍️ Sign it with my name"), callback_data=SignCB(relay=relay_id))
    await message.reply(_("Sent, from \"the organizers\"."), reply_markup=builder.as_markup())


async def sign_pressed(query: CallbackQuery, callback_data: SignCB, bot: Bot, db: Database,
                       i18n: I18n, user: Person, is_organizer: bool) -> None:
    if not is_organizer:
        await acknowledge(query, _("Only organizers can do that."), show_alert=True)
        return
    delivered = await delivered_answer(db, callback_data.relay)
    if delivered is None:
        await acknowledge(query, _("Already finished or cancelled."))
        return
    await acknowledge(query, _("Signed."))
    chat_id, message_id, answer_html = delivered
    volunteer = await get_user(db, chat_id)
    if volunteer is None:
        return
    from bot.i18n import pick_locale

    with i18n.context(), i18n.use_locale(pick_locale(volunteer.language_code,
                                                     i18n.default_locale)):
        text = _("💬 {name} (organizer): {answer}").format(name=escape(user.first_name),
                                                          answer=answer_html)
    try:
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
    except TelegramAPIError:  # the volunteer deleted it: nothing to sign
        return
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[]))


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="relay")
    router.message.register(ask_command, Command("ask"), PrivateChat())
    router.message.register(ask_command, MenuButton("🙋 Ask the organizers"))
    router.message.register(question_written, StateFilter(Ask.question), F.text,
                            ~F.text.startswith("/"), PrivateChat())
    router.message.register(reply_from_organizer, F.reply_to_message, F.text)
    router.callback_query.register(sign_pressed, SignCB.filter())
    return router

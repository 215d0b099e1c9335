"""A call becomes a supporter: "📨 Send Fabrice the link" on a card, the ready message the
volunteer sends from their phone, the callee's welcome when they open it, and the
organizers' list of callees who would make calls but are not on Telegram.

Telegram takes only http(s) and tg:// links in buttons, so the message goes two ways, each
two taps: a copy-text button (then paste it in an SMS to the number just called), and
WhatsApp's own link with the number and the text. That second button holds the number: once
the outcome is recorded it is replaced by one without it, as the card loses its number.
"""

from __future__ import annotations

from contextlib import suppress
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _

from handlers.cards import NAME_SHOWN, SendLinkCB, clip, contact_name
from handlers.invite import invite_link
from storage.campaign_cache import CampaignCache
from storage.contacts.links import (
    CallJoin,
    WouldVolunteer,
    join_through_call,
    link_to_send,
    would_volunteer,
)
from storage.database import Database
from storage.users import Person, get_user
from ui.filters import PrivateChat
from ui.notify import acknowledge, send_safely

LINK_MESSAGES = "link_messages"  # FSM key: ready messages whose WhatsApp button has a number
COPY_TEXT_MAX = 256  # Telegram's limit on a copy-text button's text
CAMPAIGN_SHOWN = 60


def ready_message(campaign: str, volunteer: str, contact: str | None, link: str) -> str:
    """What the volunteer sends from their phone: who, why, the link, how to object. Plain
    text (an SMS) that a copy-text button holds whole: long names are shortened, never the
    link nor the way out."""
    def draft(campaign_name: str, volunteer_name: str, contact_name: str | None) -> str:
        greeting = (_("Hello {name},").format(name=contact_name) if contact_name
                    else _("Hello,"))
        return " ".join((greeting, _(
            "it's {volunteer} from {campaign}, thanks for our call! Join us on Telegram: "
            "{link} (just for you). Not interested? Reply STOP.").format(
            volunteer=volunteer_name, campaign=campaign_name, link=link)))

    for campaign_shown, name_shown in ((CAMPAIGN_SHOWN, 30), (24, 16), (12, 10)):
        text = draft(clip(campaign, campaign_shown), clip(volunteer, name_shown),
                     clip(contact, name_shown) if contact else None)
        if len(text) <= COPY_TEXT_MAX:
            return text
    return draft(clip(campaign, 12), clip(volunteer, 10), None)


def whatsapp_url(text: str, phone: str | None) -> str:
    number = phone.lstrip("+") if phone else ""
    return f"https://wa.me/{number}?text={quote(text, safe='')}"


def link_keyboard(text: str, phone: str | None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=_("📋 Copy the message"),
                              copy_text=CopyTextButton(text=text))],
        [InlineKeyboardButton(text=_("💬 Send it on WhatsApp"), url=whatsapp_url(text, phone))],
    ])


async def send_link_pressed(query: CallbackQuery, callback_data: SendLinkCB, bot: Bot,
                            db: Database, campaigns: CampaignCache, user: Person,
                            state: FSMContext) -> None:
    campaign = await campaigns.get()
    link = None if campaign is None else await link_to_send(
        db, campaign, user.id, callback_data.contact_id, callback_data.seq)
    if campaign is None or link is None:
        await acknowledge(query, _("This link can't be sent: the contact is no longer "
                                   "yours, or the campaign is over."), show_alert=True)
        return
    name = contact_name(link.first_name)
    if link.joined:
        await acknowledge(query, _("{name} has joined on Telegram already. 🎉").format(
            name=clip(link.first_name or "", NAME_SHOWN)), show_alert=True)
        return
    await acknowledge(query)
    text = ready_message(campaign.name, user.first_name, link.first_name,
                         await invite_link(bot, link.code))
    intro = _("📨 A message for {name}, with their personal link. Send it from your phone: "
              "copy it and paste it in an SMS to the number you called, or open it in "
              "WhatsApp.").format(name=name)
    sent = await send_safely(bot, db, user.id, f"{intro}\n\n<i>{escape(text)}</i>",
                             reply_markup=link_keyboard(text, link.phone))
    if sent is not None and link.phone is not None:
        data = await state.get_data()
        await state.update_data({LINK_MESSAGES: [*data.get(LINK_MESSAGES, []),
                                                 [sent.message_id, text]]})


async def drop_link_numbers(bot: Bot, chat_id: int, state: FSMContext) -> None:
    """The outcome is recorded: the ready messages' WhatsApp buttons lose the number (the
    message stays to be sent); one that cannot be edited is deleted."""
    data = await state.get_data()
    for message_id, text in data.get(LINK_MESSAGES, []):
        try:
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id,
                                                reply_markup=link_keyboard(text, None))
        except TelegramAPIError:
            with suppress(TelegramAPIError):
                await bot.delete_message(chat_id, message_id)
    await state.update_data({LINK_MESSAGES: []})


async def delete_link_messages(bot: Bot, chat_id: int, state: FSMContext) -> None:
    """The card was taken back: its ready messages go with it."""
    data = await state.get_data()
    for message_id, _text in data.get(LINK_MESSAGES, []):
        with suppress(TelegramAPIError):
            await bot.delete_message(chat_id, message_id)
    await state.update_data({LINK_MESSAGES: []})


# ---- the callee opens it ----------------------------------------------------------------------

async def welcome_after_call(message: Message, db: Database, rejoin_secret: bytes,
                             user: Person, payload: str) -> CallJoin | None:
    """/start <contact link> from someone new: the link taken, and their welcome."""
    joined = await join_through_call(db, user.id, payload, rejoin_secret=rejoin_secret)
    if joined is None:
        return None
    caller = await get_user(db, joined.caller_id) if joined.attribution else None
    if caller is not None and not caller.forgotten:
        lines = [_("Welcome {name}! {caller} called you earlier: thank you for joining the "
                   "campaign here. 🕸").format(name=escape(user.first_name),
                                               caller=escape(caller.first_name))]
    else:
        lines = [_("Welcome {name}! A volunteer of the campaign called you earlier: thank "
                   "you for joining us here. 🕸").format(name=escape(user.first_name))]
    if joined.proxy_kind == "need":
        lines.append(_("The vote proxy you asked for on the phone is yours here now: I will "
                       "write to you when someone can carry your vote (/proxy)."))
    elif joined.proxy_kind == "offer":
        lines.append(_("Your offer to carry a vote, made on the phone, is yours here now: I "
                       "will write to you when someone needs you (/proxy)."))
    if joined.asked_to_call:
        lines.append(_("You said you would like to make calls too: your request is with the "
                       "organizers, and you will hear from us here."))
    await message.answer("\n\n".join(lines))
    return joined


# ---- /volunteers: callees who would make calls, off Telegram ---------------------------------

def would_volunteer_line(person: WouldVolunteer, timezone: str) -> str:
    when = person.called_at.astimezone(ZoneInfo(timezone)).strftime("%d/%m %H:%M")
    caller = escape(person.caller_name) if person.caller_name else _("someone")
    sent = _("link sent") if person.link_sent else _("link not sent")
    return _("📞 {name} · {phone} · after a call with {caller}, {when} · {sent}").format(
        name=contact_name(person.first_name), phone=escape(person.phone), caller=caller,
        when=when, sent=sent)


async def would_volunteer_text(db: Database, campaigns: CampaignCache) -> str | None:
    """For a private chat only: it holds numbers."""
    campaign = await campaigns.get()
    if campaign is None or campaign.id is None:
        return None
    people = await would_volunteer(db, campaign.id)
    if not people:
        return None
    return "\n".join([_("<b>Said on a call they would make calls, not on Telegram</b>")]
                     + [would_volunteer_line(p, campaign.timezone) for p in people])


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="callees")
    router.callback_query.filter(PrivateChat())
    router.callback_query.register(send_link_pressed, SendLinkCB.filter())
    return router

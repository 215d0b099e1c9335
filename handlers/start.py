"""/start, /help, /stop: the welcome and the way out."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from handlers.callees import welcome_after_call
from handlers.calling import may_call
from handlers.cards import ask_to_call_keyboard
from handlers.invite import welcome_through_link
from handlers.vote_place import ask_where_you_vote
from storage.contacts.links import is_link_code
from storage.database import Database
from storage.models import VolunteerStatus
from storage.users import Person, set_stopped
from ui.filters import MenuButton, PrivateChat
from ui.keyboards import main_menu


async def start(message: Message, command: CommandObject, user: Person, is_organizer: bool,
                is_new_person: bool, db: Database, rejoin_secret: bytes,
                state: FSMContext) -> None:
    if user.stopped:
        await set_stopped(db, user.id, False)
    # An invite link counts for someone arriving now; any other payload (unknown, malformed,
    # a returning supporter's) gets the plain welcome, never an error.
    # A contact link (sent after a call) takes the same first-update path.
    asked_to_call = False
    if command.args and is_new_person and is_link_code(command.args):
        joined = await welcome_after_call(message, db, rejoin_secret, user, command.args)
        asked_to_call = joined is not None and joined.asked_to_call
    elif command.args and is_new_person:
        await welcome_through_link(message, db, rejoin_secret, user, command.args)
    can_call = may_call(user, is_organizer)
    text = _("Hello {name}! 👋 This is the campaign's bot.").format(name=escape(user.first_name))
    if can_call:
        text += "\n\n" + _("Tap <b>📞 Next call</b> to get your next contact.")
        await message.answer(text, reply_markup=main_menu(True))
    else:
        text += "\n\n" + _("Everyone brings three: /invite gives you your own link to share.")
        await message.answer(text, reply_markup=main_menu(False))
        if user.volunteer_status != VolunteerStatus.PENDING and not asked_to_call:
            await message.answer(_(
                "Would you like to call supporters with us? It takes an hour when you want, "
                "from your phone."), reply_markup=ask_to_call_keyboard())
    # Once, to someone who just joined: optional, and /invite offers it again any time.
    if is_new_person and message.chat.type == ChatType.PRIVATE:
        await ask_where_you_vote(message, state)


async def help_command(message: Message, is_organizer: bool) -> None:
    text = _(
        "<b>What I can do</b>\n"
        "/call: your next contact to call\n"
        "/practice: a practice call, with a fictional contact\n"
        "/me: your calls, today and in total, and today's callers\n"
        "/invite: your link to bring three people\n"
        "/proxy: give your vote to someone, or carry someone's vote\n"
        "/shifts: phoning shifts to join\n"
        "/ask: a question for the organizers\n"
        "/stop: no more campaign messages\n"
        "/forget: erase your data\n"
        "/help: this message")
    if is_organizer:
        text += "\n\n" + _(
            "<b>Organizers</b>\n"
            "/volunteers: requests waiting for approval, paused volunteers, callers to trust\n"
            "/web: the spider's web, in numbers and in a picture\n"
            "/proxies: vote proxies, and those to follow up by phone\n"
            "/stats: today's counts, with a chart\n"
            "/broadcast: a message to an audience, now or later\n"
            "/newshift: open a phoning shift")
    await message.answer(text)


async def stop(message: Message, user: Person, db: Database) -> None:
    await set_stopped(db, user.id, True)
    await message.answer(_(
        "Done: you will receive no more campaign messages. Send /start to come back."))


async def call_in_a_group(message: Message) -> None:
    await message.reply(_("Contacts are handed out in private: write /call to me directly."))


async def not_understood(message: Message) -> None:
    await message.answer(_("I didn't understand that. /help lists what I can do."))


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    router.message.register(help_command, MenuButton("❓ Help"))
    router.message.register(stop, Command("stop"))
    return router


def build_fallback_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="fallback")
    router.message.register(call_in_a_group, Command("call"), ~PrivateChat())
    router.message.register(not_understood, PrivateChat())
    return router

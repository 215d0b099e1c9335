"""/forget: a person erases what the campaign knows of them."""

from __future__ import annotations

from contextlib import suppress

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.calling import forget_card_messages
from handlers.doors import personal_data_router
from storage.database import Database
from storage.forget import forget_person
from storage.users import Person
from ui.notify import acknowledge


class ForgetCB(CallbackData, prefix="forget"):
    confirm: bool


async def forget_command(message: Message) -> None:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("🗑 Yes, erase my data"), callback_data=ForgetCB(confirm=True))
    builder.button(text=_("Cancel"), callback_data=ForgetCB(confirm=False))
    await message.answer(_(
        "This erases your name, your Telegram account and your role from the campaign. "
        "Your past calls stay counted, anonymously. Erase?"),
        reply_markup=builder.as_markup())


async def forget_confirmed(query: CallbackQuery, callback_data: ForgetCB, db: Database,
                           rejoin_secret: bytes, user: Person, state: FSMContext) -> None:
    await acknowledge(query)
    if not callback_data.confirm:
        text = _("Nothing was erased.")
    else:
        await forget_person(db, user.id, rejoin_secret=rejoin_secret)
        # A card still on screen goes too: its number is not theirs to keep.
        await forget_card_messages(query, state)
        await forget_conversations(state, user.id)
        text = _("Done: your data is erased. Thank you for your help.")
    # Best effort, after the commit: a refused edit or send erases nothing less.
    if isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            await query.message.edit_text(text)
        if callback_data.confirm:
            with suppress(TelegramAPIError):
                await query.message.answer("👋", reply_markup=ReplyKeyboardRemove())


async def forget_conversations(state: FSMContext, user_id: int) -> None:
    """Their conversation state and data (in memory or in Redis) go: in the chat pressed,
    in their private chat, and in every group where they left some (a question begun
    there), wherever /forget was pressed."""
    await state.clear()
    private = StorageKey(bot_id=state.key.bot_id, chat_id=user_id, user_id=user_id)
    if private != state.key:
        await FSMContext(storage=state.storage, key=private).clear()
    await _forget_elsewhere(state.storage, state.key.bot_id, user_id)


# A chat id no chat has: where it stands in a Redis key, any chat's id may stand.
_ANY_CHAT = -1


async def _forget_elsewhere(storage: BaseStorage, bot_id: int, user_id: int) -> None:
    """The person's records in any other chat. aiogram has no listing of a person's keys:
    the memory storage's are its dict's, Redis's are found by their pattern (the key names
    the person after the chat; in Redis they would stay forever)."""
    if isinstance(storage, MemoryStorage):
        for key in [k for k in storage.storage if (k.bot_id, k.user_id) == (bot_id, user_id)]:
            del storage.storage[key]
    elif isinstance(storage, RedisStorage):
        builder, any_chat = storage.key_builder, StorageKey(bot_id, _ANY_CHAT, user_id)
        sep = getattr(builder, "separator", ":")
        for part in ("state", "data"):
            pattern = builder.build(any_chat, part).replace(f"{sep}{_ANY_CHAT}{sep}",
                                                            f"{sep}*{sep}", 1)
            async for name in storage.redis.scan_iter(match=pattern):
                await storage.redis.delete(name)


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="forget")
    # Private chats only: in a group, whoever tapped "Yes" under someone else's /forget
    # would be the one erased. There the pointer to the private chat answers instead.
    private = personal_data_router("forget")
    private.message.register(forget_command, Command("forget"))
    private.callback_query.register(forget_confirmed,
                                    ForgetCB.filter(F.confirm.in_({True, False})))
    router.include_router(private)
    return router

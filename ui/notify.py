"""Talking to Telegram and surviving it: answering presses, sending, editing in place, and
measuring texts as Telegram does. Messages nobody waits for go through the outbox instead."""

from __future__ import annotations

import logging
import re
from html import unescape
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message

from storage.database import Database
from storage.users import mark_blocked

log = logging.getLogger(__name__)

# Telegram's limit for a message's text, counted once its entities are parsed (what the
# person sees, a "&lt;" being one character) and in UTF-16 code units (an emoji is two).
MAX_TEXT = 4096
_TAG = re.compile(r"<[^>]*>")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def telegram_length(html: str) -> int:
    """The length Telegram counts of a text in its HTML parse mode."""
    return utf16_length(unescape(_TAG.sub("", html)))


async def acknowledge(query: CallbackQuery, text: str | None = None,
                      show_alert: bool = False) -> None:
    """Answer a callback query at once. A query too old to answer (400 after a restart, a
    long 429) must not stop the work the press asked for."""
    try:
        await query.answer(text, show_alert=show_alert)
    except TelegramAPIError as exc:
        log.info("could not answer callback query: %s", exc)


# What Telegram answers to an edit that would leave the message as it is: a double tap, or
# two organizers pressing the same button. The message shows what was asked: success.
NOT_MODIFIED = "message is not modified"


def not_modified(exc: TelegramAPIError) -> bool:
    return isinstance(exc, TelegramBadRequest) and NOT_MODIFIED in exc.message


async def edit_in_place(message: Message | InaccessibleMessage | None, text: str | None = None,
                        *, reply_markup: InlineKeyboardMarkup | None = None,
                        **kwargs: Any) -> bool:
    """Edit the message a button was pressed on: its text (and markup), or only its markup
    when `text` is None. Best effort, after the commit: the state is recorded already, so
    "message is not modified" is done, and any other refusal (400, 403, 429 beyond the
    retries, a timeout) is logged and survived. Returns whether the message shows it."""
    if not isinstance(message, Message):  # too old for the bot to see, or an inline one
        return False
    try:
        if text is None:
            await message.edit_reply_markup(reply_markup=reply_markup)
        else:
            await message.edit_text(text, reply_markup=reply_markup, **kwargs)
    except TelegramAPIError as exc:
        if not_modified(exc):
            return True
        log.warning("could not edit message %s in chat %s: %s", message.message_id,
                    message.chat.id, exc)
        return False
    return True


async def send_safely(bot: Bot, db: Database, chat_id: int, text: str,
                      **kwargs: Any) -> Message | None:
    """Send, and survive: 403 marks the person unreachable; other errors are logged."""
    try:
        return await bot.send_message(chat_id, text, **kwargs)
    except TelegramForbiddenError:
        log.info("chat %s blocked the bot; marked unreachable", chat_id)
        await mark_blocked(db, chat_id)
    except TelegramAPIError as exc:
        log.warning("could not send to %s: %s", chat_id, exc)
    return None

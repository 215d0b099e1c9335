"""The last line: no update kills the bot; a person who blocked it is marked unreachable."""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent, Update
from aiogram.utils.i18n import gettext as _

from storage.database import Database
from storage.users import mark_blocked

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, db: Database, bot: Bot) -> bool:
    update = event.update
    user = None
    for candidate in (update.message, update.callback_query, update.edited_message):
        if candidate is not None and candidate.from_user is not None:
            user = candidate.from_user
            break
    if isinstance(event.exception, TelegramForbiddenError) and user is not None:
        await mark_blocked(db, user.id)
        log.info("user %s blocked the bot", user.id)
        return True
    log.error("update %s failed: %r", update.update_id, event.exception,
              exc_info=event.exception)
    chat_id = _private_chat(update)
    if chat_id is not None:
        # Say so: a press that silently did nothing would be pressed again, or given up on.
        with suppress(TelegramAPIError):
            await bot.send_message(chat_id, _(
                "Sorry, something went wrong. Please try again: nothing is ever recorded twice."))
    return True


def _private_chat(update: Update) -> int | None:
    message = update.message or (
        update.callback_query.message if update.callback_query else None)
    if message is None or message.chat.type != "private":
        return None
    return message.chat.id


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="errors")
    router.error.register(on_error)
    return router

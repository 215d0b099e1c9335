"""The last line: no update kills the bot; a person who blocked it is marked unreachable."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import ErrorEvent

from storage.database import Database
from storage.users import mark_blocked

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, db: Database) -> bool:
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
    return True


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="errors")
    router.error.register(on_error)
    return router

"""Update middlewares: who is writing (their row, role and language)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TelegramUser
from aiogram.utils.i18n import I18nMiddleware

from storage.database import Database
from storage.users import Profile, arrive
from ui.i18n import pick_locale


class PersonMiddleware(BaseMiddleware):
    """Loads (or creates) the person's row; handlers get `user`, `is_organizer` and
    `is_new_person` (their first update ever: an invite link only counts then).

    `is_organizer` is the row's, and only the row's: the start made it agree with
    ORGANIZER_IDS (storage.users.sync_organizers), and `toile organizers remove` takes
    effect at once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        from_user: TelegramUser | None = data.get("event_from_user")
        if from_user is None or from_user.is_bot:
            return await handler(event, data)
        arrival = await arrive(self.db, Profile(
            id=from_user.id, first_name=from_user.first_name, last_name=from_user.last_name,
            username=from_user.username, language_code=from_user.language_code))
        user = arrival.user
        data["user"] = user
        data["is_new_person"] = arrival.is_new
        data["is_organizer"] = user.is_organizer
        return await handler(event, data)


class LanguageMiddleware(I18nMiddleware):
    """French or English from the person's Telegram language, else the default."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        from_user: TelegramUser | None = data.get("event_from_user")
        return pick_locale(from_user.language_code if from_user else None,
                           self.i18n.default_locale)

"""What every `toile` command that touches the database shares: the database, upgraded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.config import get_settings
from storage.database import Database
from storage.migrate import upgrade

T = TypeVar("T")


def with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    settings = get_settings()
    upgrade(settings.database_url)

    async def main() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())

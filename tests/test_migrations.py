"""The migrations build exactly the schema the models describe, and come back down."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from storage.database import Database
from storage.migrate import downgrade, upgrade


async def pending_changes(db: Database) -> list:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))


async def test_migrations_match_the_models(db):
    assert await pending_changes(db) == []


async def test_downgrade_to_nothing_and_back(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url))
        await asyncio.wrap_future(pool.submit(downgrade, url, "base"))
        await asyncio.wrap_future(pool.submit(upgrade, url))
    db = Database(url)
    try:
        assert await pending_changes(db) == []
    finally:
        await db.dispose()

"""The migrations build exactly the schema the models describe, and come back down."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from storage.database import Database
from storage.migrate import downgrade, for_this_database, upgrade

# SQLite cannot reflect an index on an expression: Alembic says so and leaves it out.
pytestmark = pytest.mark.filterwarnings("ignore:.*expression-based index")


async def pending_changes(db: Database) -> list:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: compare_metadata(
            MigrationContext.configure(sync, opts={
                "include_object": for_this_database(sync.dialect.name)}),
            SQLModel.metadata))


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


async def test_calls_made_before_rooms_were_stored_get_the_room_of_their_shift(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url, "0004"))
    with sqlite3.connect(path) as con:  # foreign keys unchecked: no campaign, no contact
        con.executescript("""
            INSERT INTO shift (id, room, address, starts_at, ends_at, capacity, note, cancelled,
                created_at) VALUES (1, 'Lyon', '', '2026-06-10 08:00:00.000000',
                '2026-06-10 10:00:00.000000', 5, '', 0, '2026-06-01 00:00:00.000000');
            INSERT INTO shift_signup (shift_id, user_id, status, joined_at)
                VALUES (1, 7, 'attended', '2026-06-01 00:00:00.000000');
            INSERT INTO call (contact_id, campaign_id, volunteer_id, lease_seq, outcome,
                created_at) VALUES
                (1, 1, 7, 1, 'no_answer', '2026-06-10 09:00:00.000000'),
                (1, 1, 7, 2, 'will_vote', '2026-06-10 11:00:00.000000');
        """)
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url))
    with sqlite3.connect(path) as con:
        rooms = con.execute("SELECT lease_seq, room FROM call ORDER BY lease_seq").fetchall()
    assert rooms == [(1, "Lyon"), (2, None)]  # the second came after the shift

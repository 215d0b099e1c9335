"""Fixtures: a migrated database (SQLite and PostgreSQL), a campaign, a moving clock."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import clock
from storage.campaigns import load_campaign, parse_campaign_file
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Campaign
from tests.botclient import Harness
from tests.conversation import ORGANIZERS_GROUP, make_harness

# The browser fixtures (browser, page) for page tests.
pytest_plugins = ["tests.browser"]

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "TOILE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/toile_tests")
TABLES = ("contact_link", "wall_token", "dnc_hold", "call", "contact", "do_not_call", "audit_log", "campaign", "users", "outbox", "pledge",
          "pledge_round", "proxy_slot", "proxy_match", "proxy_request", "polling_station",
          "relay", "shift_signup", "broadcast", "shift", "instance_lease")


async def _recreate_database(url: str) -> None:
    parsed = make_url(url)
    admin = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                  user=parsed.username, database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "toile.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    # No skip: the storage layer must be proven on PostgreSQL; an unreachable server fails.
    # Session fixtures are set up while a test's loop runs: a loop of our own in a thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _recreate_database(POSTGRES_URL)).result()
    upgrade(POSTGRES_URL)
    return POSTGRES_URL


async def make_sqlite(template: Path, directory: Path) -> Database:
    path = directory / "toile.db"
    shutil.copy(template, path)
    return Database(f"sqlite+aiosqlite:///{path}")


async def make_postgres(url: str) -> Database:
    db = Database(url)
    async with db.write() as session:
        await session.execute(text(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in TABLES) + " RESTART IDENTITY CASCADE"))
    return db


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = await make_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
    else:
        database = await make_postgres(request.getfixturevalue("postgres_url"))
    yield database
    await database.dispose()


@pytest.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    database = await make_sqlite(sqlite_template, tmp_path)
    yield database
    await database.dispose()


class FrozenClock:
    """Storage time, set by the test: 10:00 in Paris on a weekday by default."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    fake = FrozenClock()
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


async def load_example_campaign(db: Database) -> Campaign:
    campaign, _ = await load_campaign(db, parse_campaign_file(ROOT / "examples" / "campaign.toml"))
    return campaign


@pytest.fixture
async def campaign(db: Database) -> Campaign:
    return await load_example_campaign(db)


@pytest.fixture
async def harness(db: Database) -> AsyncIterator[Harness]:
    async for h in _harness(db):
        yield h


@pytest.fixture
async def group_harness(db: Database) -> AsyncIterator[Harness]:
    """The bot with an organizers' group (ORGANIZER_CHAT_ID) where questions are relayed."""
    async for h in _harness(db, organizer_chat_id=ORGANIZERS_GROUP):
        yield h


async def _harness(db: Database, **settings: Any) -> AsyncIterator[Harness]:
    h, fake = await make_harness(db, **settings)
    logging.getLogger().addHandler(h.errors)
    try:
        yield h
    finally:
        logging.getLogger().removeHandler(h.errors)
        await h.bot.session.close()
        await fake.stop()
    swallowed = [r.getMessage() for r in h.errors.records if not getattr(h, "expect_errors", False)]
    assert not swallowed, f"the bot swallowed errors: {swallowed}"
    # A screen over Telegram's limits fails its test even when the bot survives the 400.
    refused = [] if getattr(h, "expect_refusals", False) else fake.refusals
    assert not refused, f"Telegram would refuse: {refused}"


@pytest.fixture
async def campaign_in_sqlite(sqlite_db: Database) -> Campaign:
    return await load_example_campaign(sqlite_db)

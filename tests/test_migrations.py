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


async def test_contacts_tried_before_the_waiting_flag_wait_and_come_back_when_due(
        tmp_path, frozen_clock):
    import json
    import sqlite3

    from storage.calling import QueueRules, assign_next_contact, record_outcome
    from storage.campaigns import parse_campaign_file
    from storage.models import Campaign, Outcome
    from tests.conftest import ROOT

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url, "0006"))
    # The campaign as revision 0006 stored it: columns added since are left out.
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    with sqlite3.connect(path) as con:
        known = {row[1] for row in con.execute("PRAGMA table_info(campaign)")}
        row = {k: json.dumps(v) if isinstance(v, list) else v for k, v in fields.items()
               if k in known}
        row.update(active=1, created_at="2026-06-01 00:00:00.000000")
        con.execute(f"INSERT INTO campaign ({', '.join(row)}) VALUES "
                    f"({', '.join('?' * len(row))})", list(row.values()))
    campaign = Campaign(id=1, **fields)
    due_later = frozen_clock.now.replace(hour=frozen_clock.now.hour + 2).strftime(
        "%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path) as con:  # an unanswered number, due in two hours; a fresh one
        con.executemany(
            "INSERT INTO contact (campaign_id, phone, first_name, priority, status, attempts, "
            "due_at, lease_seq) VALUES (?, ?, ?, 0, 'open', ?, ?, 0)",
            [(campaign.id, "+33600000001", "Tried", 1, due_later),
             (campaign.id, "+33600000002", "Fresh", 0, "1970-01-01 00:00:00.000000")])
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url))
    with sqlite3.connect(path) as con:
        flags = con.execute("SELECT first_name, waiting FROM contact ORDER BY id").fetchall()
    assert flags == [("Tried", 1), ("Fresh", 0)]

    db = Database(url)
    try:
        rules = QueueRules.of(campaign)
        fresh = await assign_next_contact(db, rules, 1)
        assert fresh.first_name == "Fresh"
        await record_outcome(db, rules, 1, fresh.contact_id, fresh.lease_seq, Outcome.WILL_VOTE)
        assert await assign_next_contact(db, rules, 2) is None  # not due yet
        frozen_clock.advance(hours=2)
        assert (await assign_next_contact(db, rules, 2)).first_name == "Tried"
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    from tests.conftest import POSTGRES_URL, _recreate_database

    url = POSTGRES_URL + "_migration"
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _recreate_database(url)).result()
    return url


async def test_organizers_added_by_hand_before_roles_had_a_source_keep_it(empty_database_url):
    """Before 0012 only `toile organizers add|remove` wrote the audit log: whoever it last
    added keeps the role by hand; the other organizers came from ORGANIZER_IDS."""
    from sqlalchemy import text

    from storage.users import sync_organizers

    url = empty_database_url
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url, "0011"))
    db = Database(url)
    person = ("INSERT INTO users (id, first_name, is_organizer, volunteer_status, trained, "
              "blocked, stopped, created_at, generation, recruits, leaderboard_opt_out, "
              "nudges_sent, forgotten) VALUES (:id, 'X', :organizer, 'approved', FALSE, FALSE, "
              "FALSE, '2026-06-01 00:00:00', 0, 0, FALSE, 0, FALSE)")
    entry = ("INSERT INTO audit_log (action, detail, created_at) "
             "VALUES (:action, :detail, '2026-06-01 00:00:00')")
    try:
        async with db.write() as session:
            for uid, organizer in ((900, True), (901, True), (902, False), (903, True),
                                   (9010, True), (5, False)):
                await session.execute(text(person), {"id": uid, "organizer": organizer})
            for action, uid in (("organizers.add", 901), ("organizers.add", 902),
                                ("organizers.remove", 902), ("organizers.add", 903),
                                ("organizers.remove", 903), ("organizers.add", 903),
                                ("volunteers.approve", 5)):
                await session.execute(text(entry), {"action": action, "detail": f"user={uid}"})
    finally:
        await db.dispose()
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(upgrade, url))
    db = Database(url)
    try:
        async with db.read() as session:
            rows = (await session.execute(text(
                "SELECT id, is_organizer, organizer_by_config, organizer_by_cli FROM users "
                "ORDER BY id"))).all()
        assert [tuple(map(int, row)) for row in rows] == [
            (5, 0, 0, 0), (900, 1, 1, 0), (901, 1, 0, 1), (902, 0, 0, 0), (903, 1, 0, 1),
            (9010, 1, 1, 0)]  # 9010 is not 901: an exact match
        await sync_organizers(db, [9010])  # the first start after the upgrade
        async with db.read() as session:
            organizers = (await session.execute(text(
                "SELECT id FROM users WHERE is_organizer ORDER BY id"))).scalars().all()
        assert organizers == [901, 903, 9010]
    finally:
        await db.dispose()

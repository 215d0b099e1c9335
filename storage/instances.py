"""One `toile run` at a time against a database, until several can share one sending rate.

The running instance holds a lease row and renews it every RENEW_SECONDS; another start
finds it and refuses, naming the holder. A crash (kill -9, a machine gone) leaves the row to
lapse after LEASE_SECONDS, and the next start takes it over; a clean stop deletes it.
Other commands (imports, exports) never touch it.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage import clock
from storage.database import Database
from storage.models import InstanceLease

lease_t = InstanceLease.__table__  # type: ignore[attr-defined]
BOT = "bot"
RENEW_SECONDS = 10
# Long enough for a renewal to wait out a CLI import holding SQLite's write lock for a
# while (a takeover would wait for it as well), short enough for a restart after a crash.
LEASE_SECONDS = 45


@dataclass(frozen=True)
class Instance:
    holder: str  # random: a pid alone is reused, a host may run two
    host: str
    pid: int

    @classmethod
    def here(cls) -> Instance:
        return cls(secrets.token_hex(16), socket.gethostname(), os.getpid())


@dataclass(frozen=True)
class Holder:
    holder: str
    host: str
    pid: int
    started_at: datetime
    renewed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Claim:
    acquired: bool
    holder: Holder  # who holds the lease now: us when acquired, else the running one
    took_over: Holder | None = None  # the lapsed lease we replaced (a crashed instance)


_COLUMNS = (lease_t.c.holder, lease_t.c.host, lease_t.c.pid, lease_t.c.started_at,
            lease_t.c.renewed_at, lease_t.c.expires_at)


async def lease_table_exists(db: Database) -> bool:
    """False on a database not yet migrated this far (the start migrates, then claims)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).has_table("instance_lease"))


async def acquire(db: Database, me: Instance, *, ttl: float = LEASE_SECONDS) -> Claim:
    """Take the lease if it is free, lapsed or already ours; else say who holds it. One
    statement decides (an upsert whose update only applies to a lapsed or own lease), so
    two starts at once cannot both win."""
    now = clock.utcnow()
    mine = {"holder": me.holder, "host": me.host, "pid": me.pid, "started_at": now,
            "renewed_at": now, "expires_at": now + timedelta(seconds=ttl)}
    insert = (sqlite if db.is_sqlite else postgresql).insert(lease_t)
    async with db.write() as session:
        before = (await session.execute(
            select(*_COLUMNS).where(lease_t.c.name == BOT))).one_or_none()
        await session.execute(insert.values(name=BOT, **mine).on_conflict_do_update(
            index_elements=["name"], set_=mine,
            where=(lease_t.c.expires_at <= now) | (lease_t.c.holder == me.holder)))
        row = (await session.execute(select(*_COLUMNS).where(lease_t.c.name == BOT))).one()
    holder = Holder(*row)
    acquired = holder.holder == me.holder
    previous = Holder(*before) if before is not None else None
    took_over = previous if acquired and previous and previous.holder != me.holder else None
    return Claim(acquired, holder, took_over)


async def current_holder(db: Database) -> Holder | None:
    async with db.read() as session:
        row = (await session.execute(
            select(*_COLUMNS).where(lease_t.c.name == BOT))).one_or_none()
    return Holder(*row) if row is not None else None


async def renew(db: Database, me: Instance, *, ttl: float = LEASE_SECONDS) -> bool:
    """Extend our lease; False if another instance took it over (we were stalled past its
    end): this one must stop."""
    now = clock.utcnow()
    async with db.write() as session:
        result = await session.execute(
            update(lease_t).where(lease_t.c.name == BOT, lease_t.c.holder == me.holder)
            .values(renewed_at=now, expires_at=now + timedelta(seconds=ttl)))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(db: Database, me: Instance) -> None:
    """A clean stop: the next start need not wait for the lease to lapse."""
    async with db.write() as session:
        await session.execute(
            delete(lease_t).where(lease_t.c.name == BOT, lease_t.c.holder == me.holder))

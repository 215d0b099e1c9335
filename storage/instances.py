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

from sqlalchemy import inspect

from storage import clock
from storage.database import Database
from storage.driver import SQL
from storage.rows import columns, reader

BOT = "bot"  # the lease's name: what is held
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


LEASE_HOLDER = SQL.of(f"SELECT {columns(Holder)} FROM instance_lease WHERE name = :name")
# One statement decides: the update applies only to a lapsed lease or our own.
TAKE_LEASE = SQL.of(
    f"INSERT INTO instance_lease (name, {columns(Holder)}) VALUES (:name, :holder, :host, "
    ":pid, :now, :now, :expires_at) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
    "host = excluded.host, pid = excluded.pid, started_at = excluded.started_at, "
    "renewed_at = excluded.renewed_at, expires_at = excluded.expires_at "
    "WHERE instance_lease.expires_at <= :now OR instance_lease.holder = :holder")
RENEW_LEASE = SQL.of(
    "UPDATE instance_lease SET renewed_at = :now, expires_at = :expires_at "
    "WHERE name = :name AND holder = :holder")
RELEASE_LEASE = SQL.of("DELETE FROM instance_lease WHERE name = :name AND holder = :holder")
_read_holder = reader(Holder)


async def lease_table_exists(db: Database) -> bool:
    """False on a database not yet migrated this far (the start migrates, then claims)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).has_table("instance_lease"))


async def acquire(db: Database, me: Instance, *, ttl: float = LEASE_SECONDS) -> Claim:
    """Take the lease if it is free, lapsed or already ours; else say who holds it. One
    statement decides (an upsert whose update only applies to a lapsed or own lease), so
    two starts at once cannot both win."""
    now = clock.utcnow()
    async with db.fast_write() as tx:
        before = await tx.one(LEASE_HOLDER, name=BOT)
        await tx.run(TAKE_LEASE, name=BOT, holder=me.holder, host=me.host, pid=me.pid,
                     now=now, expires_at=now + timedelta(seconds=ttl))
        row = await tx.one(LEASE_HOLDER, name=BOT)
    assert row is not None  # the statement above wrote it or found it held
    holder = _read_holder(row)
    acquired = holder.holder == me.holder
    previous = _read_holder(before) if before is not None else None
    took_over = previous if acquired and previous and previous.holder != me.holder else None
    return Claim(acquired, holder, took_over)


async def current_holder(db: Database) -> Holder | None:
    async with db.fast_read() as tx:
        row = await tx.one(LEASE_HOLDER, name=BOT)
    return _read_holder(row) if row is not None else None


async def renew(db: Database, me: Instance, *, ttl: float = LEASE_SECONDS) -> bool:
    """Extend our lease; False if another instance took it over (we were stalled past its
    end): this one must stop."""
    now = clock.utcnow()
    async with db.fast_write() as tx:
        renewed = await tx.run(RENEW_LEASE, name=BOT, holder=me.holder, now=now,
                               expires_at=now + timedelta(seconds=ttl))
    return bool(renewed)


async def release(db: Database, me: Instance) -> None:
    """A clean stop: the next start need not wait for the lease to lapse."""
    async with db.fast_write() as tx:
        await tx.run(RELEASE_LEASE, name=BOT, holder=me.holder)

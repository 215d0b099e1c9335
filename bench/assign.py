"""Benchmark: the phone-bank claim loop through the storage layer, against the same SQL bare.

    .venv/bin/python bench/assign.py [--db sqlite|postgres|both] [--contacts 1000000]
        [--workers 64] [--seconds 20] [--dnc-share 0] [--explain] [--profile]

For each database: N contacts are bulk-loaded with the driver (COPY / executemany), then
--workers concurrent volunteers loop claim -> record for --seconds, first through
storage.calling (assign_next_contact, record_outcome), then with the same statements sent
through aiosqlite / asyncpg directly. Each loop gets a fresh copy of the loaded database.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import cProfile
import inspect
import io
import json
import pstats
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiosqlite
import asyncpg

from bench._common import (
    CAMPAIGN_FILE,
    FIRST_NAMES,
    LAST_NAMES,
    PG_HOST,
    PG_PORT,
    PG_USER,
    draw_place,
    drop_pg_database,
    percentile,
    postgres_url,
    recreate_pg_database,
    seal_pg_template,
    sqlite_url,
    table,
    verdict,
)
from storage.calling import QueueRules, Recorded, assign_next_contact, record_outcome
from storage.calling.guard import CARDS_SEEN
from storage.calling.hours import ZONES_QUEUED, OpenZones, open_zones
from storage.campaigns import load_campaign, parse_campaign_file
from storage.database import Database
from storage.migrate import upgrade
from storage.models import (
    EPOCH,
    FOLLOW_UP_OUTCOMES,
    RETRY_OUTCOMES,
    UNTARGETED_PRIORITY,
    Outcome,
)

TARGET_RATIO = 0.70
PG_TEMPLATE = "toile_bench"
VOLUNTEER_BASE = 10_000
DNC_PROBES = 5
# What volunteers press, roughly as a phone bank sees it. DO_NOT_CALL is set by --dnc-share.
OUTCOME_WEIGHTS: dict[Outcome, float] = {
    Outcome.WILL_VOTE: 30, Outcome.NO_ANSWER: 25, Outcome.VOICEMAIL: 8, Outcome.UNDECIDED: 10,
    Outcome.NOT_INTERESTED: 10, Outcome.OTHER_SIDE: 6, Outcome.CALL_BACK: 3,
    Outcome.NEEDS_PROXY: 3, Outcome.WANTS_TO_VOLUNTEER: 2, Outcome.WRONG_NUMBER: 3,
}


def sqlite_time(value: datetime) -> str:
    """What SQLAlchemy's SQLite DATETIME writes for UTCDateTime: UTC, no offset."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Settings:
    contacts: int
    workers: int
    seconds: float
    dnc_share: float
    explain: bool
    profile: bool


# ---- the queue, two ways -------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    contact_id: int
    lease_seq: int
    already_held: bool


class QueueApi(Protocol):
    async def claim(self, volunteer_id: int) -> Claimed | None: ...

    async def record(self, volunteer_id: int, contact_id: int, lease_seq: int,
                     outcome: Outcome) -> bool: ...


class StorageQueue:
    """The storage layer, called exactly as handlers/calling.py calls it."""

    def __init__(self, db: Database, rules: QueueRules) -> None:
        self.db, self.rules = db, rules

    async def claim(self, volunteer_id: int) -> Claimed | None:
        card = await assign_next_contact(self.db, self.rules, volunteer_id)
        return None if card is None else Claimed(card.contact_id, card.lease_seq,
                                                 card.already_held)

    async def record(self, volunteer_id: int, contact_id: int, lease_seq: int,
                     outcome: Outcome) -> bool:
        result = await record_outcome(self.db, self.rules, volunteer_id, contact_id, lease_seq,
                                      outcome)
        # Pressed the instant the card came, a ⛔ is held for an organizer (the harvest
        # guard): recorded all the same, as a hold.
        return result.status in (Recorded.RECORDED, Recorded.HELD)


# The statements storage.calling emits (see it with echo=True), written with "?" markers.
CARD = ("id, lease_seq, phone, first_name, last_name, constituency, commune, source, attempts, "
        "lease_expires_at")
HELD_SQL = (f"SELECT {CARD} FROM contact WHERE held_by = ? AND campaign_id = ? "
            "AND lease_expires_at > ? AND status = 'open' LIMIT 1")
FREE = "(held_by IS NULL OR lease_expires_at <= ?)"
# The claim: the first free contact of each zone open now (storage.calling.hours), then the
# first of those; the zones as each driver takes a list, PostgreSQL's search per zone a
# LATERAL join.
FIRST_OF_ZONE = (
    "FROM contact c WHERE c.campaign_id = ? AND c.zone = z.zone AND c.status = 'open' "
    "AND NOT c.waiting AND c.due_at <= ? AND (c.held_by IS NULL OR c.lease_expires_at <= ?) "
    "ORDER BY c.priority, c.attempts, c.id LIMIT 1")
FIRST = {
    "sqlite": ("SELECT id FROM contact WHERE id IN (WITH z(zone) AS (SELECT value FROM "
               f"json_each(?)) SELECT (SELECT c.id {FIRST_OF_ZONE}) FROM z) "
               "ORDER BY priority, attempts, id LIMIT 1"),
    "postgres": ("SELECT f.id FROM unnest(?::text[]) AS z(zone) CROSS JOIN LATERAL "
                 f"(SELECT c.id, c.priority, c.attempts {FIRST_OF_ZONE} FOR UPDATE SKIP LOCKED) f "
                 "ORDER BY f.priority, f.attempts, f.id LIMIT 1"),
}
CLAIM_SQL = ("UPDATE contact SET held_by = ?, lease_expires_at = ?, lease_seq = lease_seq + 1 "
             f"WHERE id = ({{first}}) AND status = 'open' AND {FREE} RETURNING {CARD}")
WAKE_SQL = ("UPDATE contact SET waiting = FALSE WHERE id IN (SELECT id FROM contact WHERE "
            "waiting AND status = 'open' AND campaign_id = ? AND due_at <= ? ORDER BY due_at, id "
            "LIMIT 500{lock})")
INSERT_CALL_SQL = ("INSERT INTO call (contact_id, campaign_id, volunteer_id, lease_seq, outcome, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?)")
INSERT_DNC_SQL = ("INSERT INTO do_not_call (phone, added_at, added_by) VALUES (?, ?, ?) "
                  "ON CONFLICT (phone) DO NOTHING")
# The harvest guard's count of the volunteer's last hour, which every record makes: the
# statement as storage writes it, its values in the order of its names.
GUARD = CARDS_SEEN
assert GUARD.names == ("volunteer_id", "hour_ago", "epoch")
DNC_CONTACTS_SQL = ("UPDATE contact SET status = 'dnc' WHERE campaign_id IN "
                    "(SELECT id FROM campaign) AND phone = ? AND status = 'open' "
                    "AND held_by IS NULL")


def record_statement(outcome: Outcome, rules: QueueRules, now: datetime,
                     stamp: Callable[[datetime], Any]) -> tuple[str, list[Any]]:
    """The conditional UPDATE of record_outcome for this outcome, and its SET parameters."""
    sets: list[str] = []
    params: list[Any] = []
    if outcome in RETRY_OUTCOMES:
        sets += ["status = CASE WHEN attempts + 1 >= ? THEN 'done' ELSE 'open' END",
                 "attempts = attempts + 1", "due_at = ?", "waiting = TRUE"]
        params += [rules.max_attempts, stamp(now + timedelta(minutes=rules.retry_delay_minutes))]
    elif outcome is Outcome.CALL_BACK:
        sets += ["attempts = attempts + 1", "due_at = ?", "waiting = TRUE"]
        params.append(stamp(now))
    else:
        sets += ["attempts = attempts + 1", "status = ?"]
        params.append("dnc" if outcome is Outcome.DO_NOT_CALL else "done")
        if outcome in FOLLOW_UP_OUTCOMES:
            sets.append("follow_up = ?")
            params.append(outcome.value)
    sets += ["held_by = NULL", "lease_expires_at = NULL", "last_outcome = ?",
             "last_called_at = ?"]
    params += [outcome.value, stamp(now)]
    sql = (f"UPDATE contact SET {', '.join(sets)} WHERE id = ? AND held_by = ? "
           "AND lease_seq = ? AND status = 'open' RETURNING campaign_id, phone, first_name")
    return sql, params


def numbered(sql: str) -> str:
    """'?' markers to PostgreSQL's $1, $2, ..."""
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], start=1)) + parts[-1]


class BareZones:
    """The zones open now among the queue's, read once a minute with storage's statement, as
    storage.calling.hours does."""

    def __init__(self, rules: QueueRules) -> None:
        self.rules = rules
        self.minute: datetime | None = None
        self.zones = OpenZones(frozenset(), "", [])

    async def get(self, fetch: Callable[[], Awaitable[Any]], now: datetime) -> OpenZones:
        minute = now.replace(second=0, microsecond=0)
        if minute != self.minute:
            present = {zone for (zone,) in await fetch()} | {""}
            every = open_zones(self.rules.calling_start, self.rules.calling_end, now)
            zones = sorted(every.zones & present)
            self.zones = OpenZones(frozenset(zones), json.dumps(zones), zones)
            self.minute = minute
        return self.zones


class BareSqlite:
    """aiosqlite directly, with the storage layer's discipline: an in-process lock around
    write transactions, BEGIN IMMEDIATE, the same pragmas, a lazily grown connection pool."""

    def __init__(self, path: Path, rules: QueueRules, max_connections: int = 16) -> None:
        self.path, self.rules, self.max_connections = path, rules, max_connections
        self.lock = asyncio.Lock()
        self.idle: list[aiosqlite.Connection] = []
        self.opened: list[aiosqlite.Connection] = []
        self.claim_sql = CLAIM_SQL.format(first=FIRST["sqlite"])
        self.wake_sql = WAKE_SQL.format(lock="")
        self.zones = BareZones(rules)

    async def _connect(self) -> aiosqlite.Connection:
        if len(self.opened) >= self.max_connections:
            raise RuntimeError("pool exhausted")  # cannot happen: writers hold the lock
        con = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                       "foreign_keys=ON"):
            await con.execute(f"PRAGMA {pragma}")
        self.opened.append(con)
        return con

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.lock:
            con = self.idle.pop() if self.idle else await self._connect()
            try:
                await con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    await con.execute("ROLLBACK")
                    raise
                await con.execute("COMMIT")
            finally:
                self.idle.append(con)

    async def close(self) -> None:
        for con in self.opened:
            await con.close()

    async def claim(self, volunteer_id: int) -> Claimed | None:
        now = datetime.now(UTC)
        at, lease = sqlite_time(now), sqlite_time(now + timedelta(minutes=self.rules.lease_minutes))
        async with self.write() as con:
            held = await con.execute_fetchall(
                HELD_SQL, (volunteer_id, self.rules.campaign_id, at))
            if held:
                row = next(iter(held))
                return Claimed(row[0], row[1], True)
            await con.execute(self.wake_sql, (self.rules.campaign_id, at))
            zones = (await self.zones.get(lambda: con.execute_fetchall(
                ZONES_QUEUED.sqlite, (self.rules.campaign_id,)), now)).sqlite
            rows = await con.execute_fetchall(
                self.claim_sql, (volunteer_id, lease, zones, self.rules.campaign_id, at, at, at))
            row = next(iter(rows), None)
            return None if row is None else Claimed(row[0], row[1], False)

    async def record(self, volunteer_id: int, contact_id: int, lease_seq: int,
                     outcome: Outcome) -> bool:
        now = datetime.now(UTC)
        sql, params = record_statement(outcome, self.rules, now, sqlite_time)
        async with self.write() as con:
            rows = await con.execute_fetchall(sql, (*params, contact_id, volunteer_id, lease_seq))
            row = next(iter(rows), None)
            if row is None:
                return False
            campaign_id, phone, _first_name = row
            await con.execute_fetchall(INSERT_CALL_SQL, (
                contact_id, campaign_id, volunteer_id, lease_seq, outcome.value, sqlite_time(now)))
            if outcome is Outcome.DO_NOT_CALL:
                await con.execute_fetchall(INSERT_DNC_SQL, (phone, sqlite_time(now), volunteer_id))
                await con.execute_fetchall(DNC_CONTACTS_SQL, (phone,))
            await con.execute_fetchall(GUARD.sqlite, (
                volunteer_id, sqlite_time(now - timedelta(hours=1)), sqlite_time(EPOCH)))
            return True


class BarePostgres:
    """asyncpg directly: a pool as large as the storage layer's, FOR UPDATE SKIP LOCKED."""

    def __init__(self, pool: asyncpg.Pool, rules: QueueRules) -> None:
        self.pool, self.rules = pool, rules
        self.held_sql = numbered(HELD_SQL)
        self.claim_sql = numbered(CLAIM_SQL.format(first=FIRST["postgres"]))
        self.wake_sql = numbered(WAKE_SQL.format(lock=" FOR UPDATE"))
        self.zones = BareZones(rules)
        self.insert_call_sql = numbered(INSERT_CALL_SQL)
        self.insert_dnc_sql = numbered(INSERT_DNC_SQL)
        self.dnc_contacts_sql = numbered(DNC_CONTACTS_SQL)

    async def claim(self, volunteer_id: int) -> Claimed | None:
        now = datetime.now(UTC)
        lease = now + timedelta(minutes=self.rules.lease_minutes)
        async with self.pool.acquire() as con:
            await con.execute(self.wake_sql, self.rules.campaign_id, now)  # committed apart
            async with con.transaction():
                held = await con.fetchrow(self.held_sql, volunteer_id, self.rules.campaign_id,
                                          now)
                if held is not None:
                    return Claimed(held[0], held[1], True)
                zones = (await self.zones.get(lambda: con.fetch(
                    ZONES_QUEUED.postgres, self.rules.campaign_id), now)).postgres
                row = await con.fetchrow(self.claim_sql, volunteer_id, lease,
                                         zones, self.rules.campaign_id, now, now, now)
            return None if row is None else Claimed(row[0], row[1], False)

    async def record(self, volunteer_id: int, contact_id: int, lease_seq: int,
                     outcome: Outcome) -> bool:
        now = datetime.now(UTC)
        sql, params = record_statement(outcome, self.rules, now, lambda t: t)
        async with self.pool.acquire() as con, con.transaction():
            row = await con.fetchrow(numbered(sql), *params, contact_id, volunteer_id, lease_seq)
            if row is None:
                return False
            campaign_id, phone, _first_name = row
            await con.execute(self.insert_call_sql, contact_id, campaign_id, volunteer_id,
                              lease_seq, outcome.value, now)
            if outcome is Outcome.DO_NOT_CALL:
                await con.execute(self.insert_dnc_sql, phone, now, volunteer_id)
                await con.execute(self.dnc_contacts_sql, phone)
            await con.fetchrow(GUARD.postgres, volunteer_id, now - timedelta(hours=1), EPOCH)
            return True


# ---- the volunteers ------------------------------------------------------------------------

@dataclass
class WorkerLog:
    cards: list[tuple[int, int]] = field(default_factory=list)  # (contact_id, lease_seq)
    claim_ms: list[float] = field(default_factory=list)
    record_ms: list[float] = field(default_factory=list)
    already_held: int = 0
    failed_records: int = 0
    queue_empty: bool = False


def outcome_picker(rng: random.Random, dnc_share: float) -> Callable[[], Outcome]:
    outcomes = [*OUTCOME_WEIGHTS, Outcome.DO_NOT_CALL]
    rest = sum(OUTCOME_WEIGHTS.values())
    weights = [w / rest * (1 - dnc_share) for w in OUTCOME_WEIGHTS.values()] + [dnc_share]
    return lambda: rng.choices(outcomes, weights)[0]


async def volunteer(api: QueueApi, volunteer_id: int, pick: Callable[[], Outcome],
                    deadline: float, log: WorkerLog, cycles: int | None = None) -> None:
    clock = time.perf_counter
    while clock() < deadline and (cycles is None or len(log.cards) < cycles):
        start = clock()
        claimed = await api.claim(volunteer_id)
        claimed_at = clock()
        if claimed is None:
            log.queue_empty = True
            return
        recorded = await api.record(volunteer_id, claimed.contact_id, claimed.lease_seq, pick())
        log.claim_ms.append((claimed_at - start) * 1000)
        log.record_ms.append((clock() - claimed_at) * 1000)
        log.cards.append((claimed.contact_id, claimed.lease_seq))
        log.already_held += claimed.already_held
        log.failed_records += not recorded
        # On SQLite the storage layer's short transactions run on the event loop and never
        # yield: without this, the first volunteer would take every card while the others
        # waited, as no person can (between two cards a real one is on the phone).
        await asyncio.sleep(0)


@dataclass
class LoopResult:
    database: str
    loop: str
    cycles: int
    seconds: float
    claim_ms: list[float]
    record_ms: list[float]
    logs: list[WorkerLog]
    dnc_ms: list[float] = field(default_factory=list)

    @property
    def ops(self) -> float:
        return self.cycles / self.seconds


async def run_loop(database: str, loop: str, api: QueueApi, workers: int, seconds: float,
                   dnc_share: float) -> LoopResult:
    logs = [WorkerLog() for _ in range(workers)]
    start = time.perf_counter()
    deadline = start + seconds
    # Same seed per volunteer in both loops: the same sequence of outcomes.
    await asyncio.gather(*(
        volunteer(api, VOLUNTEER_BASE + i, outcome_picker(random.Random(i), dnc_share),
                  deadline, log) for i, log in enumerate(logs)))
    # Volunteers finish the card in hand after the deadline: time until the last one did.
    elapsed = time.perf_counter() - start
    claim_ms = sorted(ms for log in logs for ms in log.claim_ms)
    record_ms = sorted(ms for log in logs for ms in log.record_ms)
    return LoopResult(database, loop, sum(len(log.cards) for log in logs), elapsed, claim_ms,
                      record_ms, logs)


async def exercise(database: str, loop: str, api: QueueApi, settings: Settings) -> LoopResult:
    """The measured loop, then a few DO_NOT_CALL records alone (each one updates contacts by
    phone number), so that their cost shows without weighing on the loop's figures."""
    result = await run_loop(database, loop, api, settings.workers, settings.seconds,
                            settings.dnc_share)
    probe = WorkerLog()
    await volunteer(api, VOLUNTEER_BASE - 1, lambda: Outcome.DO_NOT_CALL, float("inf"), probe,
                    cycles=DNC_PROBES)
    result.logs.append(probe)  # its cards count in the proof, not in ops/s
    result.dnc_ms = sorted(probe.record_ms)
    return result


class RoundTrips:
    """Counts aiosqlite's thread round trips (one per call into its worker thread).

    A diagnostic only: it wraps a private aiosqlite method, so measured loops never use it.
    """

    def __init__(self) -> None:
        self.count = 0
        self._original = aiosqlite.core.Connection._execute

    def __enter__(self) -> RoundTrips:
        original = self._original

        async def counting(connection: Any, fn: Callable[..., Any], *args: Any,
                           **kwargs: Any) -> Any:
            self.count += 1
            return await original(connection, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        aiosqlite.core.Connection._execute = self._original  # type: ignore[method-assign]


async def diagnose(database: str, loop: str, api: QueueApi, settings: Settings) -> None:
    """--profile: where a cycle's time goes, on the loop's database once it was measured."""
    one = WorkerLog()
    cycles = 200
    with RoundTrips() as trips:
        cpu, start = time.thread_time(), time.perf_counter()
        await volunteer(api, VOLUNTEER_BASE - 2, lambda: Outcome.WILL_VOTE, float("inf"), one,
                        cycles=cycles)
        wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    done = max(1, len(one.cards))
    print(f"\n--- {database}/{loop}, one volunteer alone, {done} cycles: "
          f"{wall / done * 1000:.2f} ms wall and {cpu / done * 1000:.2f} ms of event-loop CPU "
          f"per cycle" + (f", {trips.count / done:.1f} aiosqlite thread round trips per cycle"
                          if database == "sqlite" else ""))
    if loop != "storage layer":
        return
    profile = cProfile.Profile()
    seconds = min(settings.seconds, 5.0)
    profile.enable()
    await run_loop(database, loop, api, settings.workers, seconds, 0.0)
    profile.disable()
    out = io.StringIO()
    # Own time only: cumulative figures are meaningless across greenlet switches.
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
    print(f"--- cProfile of {settings.workers} volunteers for {seconds:g} s, top 25 by own time")
    print("\n".join(line for line in out.getvalue().splitlines()
                    if line.strip() and not line.lstrip().startswith(("Ordered by", "List red"))))


# ---- proof of no double assignment ---------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    handed_out: int  # claims seen by volunteers
    calls: int  # calls rows in the database
    client_duplicates: int  # a (contact, lease_seq) handed out twice
    db_duplicates: int  # a (contact, lease_seq) recorded twice
    mismatched_contacts: int  # claims != calls != lease_seq bumps for a contact
    failed_records: int  # a volunteer's card was not theirs any more when they recorded
    already_held: int  # a claim returned a card the volunteer was still holding
    held_after: int  # contacts still held once every volunteer recorded

    @property
    def double_assignments(self) -> int:
        return (self.client_duplicates + self.db_duplicates + self.mismatched_contacts
                + self.failed_records + self.already_held)


def prove(result: LoopResult, call_rows: Sequence[tuple[int, int]],
          lease_seqs: dict[int, int], held_after: int) -> Proof:
    """Every contact started at lease_seq 0 and nobody else touched the database, so for each
    contact: hand-outs seen by volunteers == calls recorded == lease_seq in the table. Two
    volunteers holding one contact at once would break one of these (and fail a record)."""
    cards = [card for log in result.logs for card in log.cards]
    claims = Counter(contact_id for contact_id, _ in cards)
    calls = Counter(contact_id for contact_id, _ in call_rows)
    contacts = claims.keys() | calls.keys() | lease_seqs.keys()
    mismatched = sum(1 for c in contacts if not claims[c] == calls[c] == lease_seqs.get(c, 0))
    return Proof(
        handed_out=len(cards), calls=len(call_rows),
        client_duplicates=len(cards) - len(set(cards)),
        db_duplicates=len(call_rows) - len(set(call_rows)),
        mismatched_contacts=mismatched,
        failed_records=sum(log.failed_records for log in result.logs),
        already_held=sum(log.already_held for log in result.logs),
        held_after=held_after)


def prove_sqlite(result: LoopResult, path: Path) -> Proof:
    with sqlite3.connect(path) as con:
        calls = [tuple(row) for row in con.execute("SELECT contact_id, lease_seq FROM call")]
        seqs = dict(con.execute("SELECT id, lease_seq FROM contact WHERE lease_seq > 0"))
        held = con.execute("SELECT count(*) FROM contact WHERE held_by IS NOT NULL").fetchone()[0]
    con.close()
    return prove(result, calls, seqs, held)  # type: ignore[arg-type]


async def prove_postgres(result: LoopResult, database: str) -> Proof:
    con = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)
    try:
        calls = [(r[0], r[1]) for r in await con.fetch("SELECT contact_id, lease_seq FROM call")]
        seqs = {r[0]: r[1] for r in await con.fetch(
            "SELECT id, lease_seq FROM contact WHERE lease_seq > 0")}
        held = await con.fetchval("SELECT count(*) FROM contact WHERE held_by IS NOT NULL")
    finally:
        await con.close()
    return prove(result, calls, seqs, held)


# ---- the contacts --------------------------------------------------------------------------

CONTACT_COLUMNS = ("campaign_id", "phone", "first_name", "last_name", "constituency", "commune",
                   "postal_code", "source", "priority", "status", "attempts", "due_at",
                   "lease_seq", "zone")
# Contacts with a clock of their own (storage.phones.zone_for), spread over the priorities as
# the others are, so that the claim meets those whose local hours are closed: country code,
# postal code, zone and share of the file (5 % in all).
ELSEWHERE = (
    ("590", "97110", "America/Guadeloupe", 0.012), ("596", "97200", "America/Martinique", 0.01),
    ("594", "97300", "America/Cayenne", 0.006), ("262", "97400", "Indian/Reunion", 0.012),
    ("262", "97600", "Indian/Mayotte", 0.004), ("687", None, "Pacific/Noumea", 0.003),
    ("1", None, "America/New_York", 0.003),
)
assert abs(sum(share for *_rest, share in ELSEWHERE) - 0.05) < 1e-9


def contact_records(count: int, campaign_id: int, targets: list[str], due_at: Any,
                    seed: int = 7) -> list[tuple[Any, ...]]:
    """Contacts as the importer would have stored them; numbers unique and in index order."""
    rng = random.Random(seed)
    rank = {name.casefold(): i for i, name in enumerate(targets)}
    records = []
    for i in range(count):
        place = draw_place(rng)
        priority = rank.get(place.constituency.casefold(), UNTARGETED_PRIORITY)
        phone, postal_code, zone = f"+336{i:08d}", place.postal_code, ""
        draw = rng.random()
        for country, postal, where, share in ELSEWHERE:
            if draw < share:
                phone, postal_code, zone = f"+{country}6{i:08d}", postal or "", where
                break
            draw -= share
        records.append((campaign_id, phone, rng.choice(FIRST_NAMES),
                        rng.choice(LAST_NAMES), place.constituency, place.commune,
                        postal_code, "bench", priority, "open", 0, due_at, 0, zone))
    return records


def morning_hours(timezone: str, now: datetime) -> dict[str, str]:
    """Calling hours that open this hour in the campaign's zone, as at 09:00 in Paris: the
    contacts west of it (Antilles, Guyane, New York) wait for theirs, whatever the time of
    the run, and the claim meets them (the bench's clock is the real one)."""
    hour = now.astimezone(ZoneInfo(timezone)).hour
    return {"calling_start": f"{hour:02d}:00", "calling_end": f"{min(hour + 12, 23):02d}:59"}


def closed_share(rules: QueueRules, now: datetime) -> str:
    """Which of those zones are outside calling hours now, and their share of the file."""
    zones = open_zones(rules.calling_start, rules.calling_end, now).zones
    closed = [(where, share) for _c, _p, where, share in ELSEWHERE if where not in zones]
    return (f"{sum(share for _w, share in closed):.1%} of contacts outside their calling hours "
            f"now ({', '.join(where for where, _s in closed) or 'none'})")


async def load_campaign_rules(url: str) -> tuple[QueueRules, list[str]]:
    db = Database(url)
    try:
        campaign, _ = await load_campaign(db, parse_campaign_file(CAMPAIGN_FILE))
        # The clock does not stand still here, but each volunteer goes through hundreds of
        # cards in a loop, where the harvest guard would pause them after 40: raised, so the
        # loops measure calls (the guard's count still runs at every record, in both loops).
        rules = replace(QueueRules.of(campaign), card_limit_per_hour=1_000_000,
                        **morning_hours(campaign.timezone, datetime.now(UTC)))
        return rules, list(campaign.target_constituencies)
    finally:
        await db.dispose()


# ---- per database --------------------------------------------------------------------------

def report_proof(result: LoopResult, proof: Proof) -> None:
    print(f"  {result.database}/{result.loop}: {result.cycles:,} cycles in {result.seconds:.1f} s"
          f"; handed out {proof.handed_out:,} (with {DNC_PROBES} DNC probes), calls "
          f"{proof.calls:,}, duplicates {proof.client_duplicates}/{proof.db_duplicates}, "
          f"mismatched contacts {proof.mismatched_contacts}, failed records "
          f"{proof.failed_records}, already held {proof.already_held}, held after "
          f"{proof.held_after}"
          + (", QUEUE RAN DRY" if any(log.queue_empty for log in result.logs) else ""))


async def measure(database: str, loop: str, api: QueueApi, settings: Settings,
                  prove: Callable[[LoopResult], Proof | Awaitable[Proof]],
                  ) -> tuple[LoopResult, Proof]:
    """One measured loop, its proof of no double assignment, and (--profile) a diagnosis."""
    result = await exercise(database, loop, api, settings)
    proof = prove(result)
    if inspect.isawaitable(proof):
        proof = await proof
    if settings.profile:
        await diagnose(database, loop, api, settings)
    return result, proof


async def bench_sqlite(settings: Settings) -> list[tuple[LoopResult, Proof]]:
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-assign-"))
    try:
        template = workdir / "template.db"
        start = time.perf_counter()
        await asyncio.to_thread(upgrade, sqlite_url(template))
        rules, targets = await load_campaign_rules(sqlite_url(template))
        records = contact_records(settings.contacts, rules.campaign_id, targets,
                                  sqlite_time(EPOCH))
        with sqlite3.connect(template) as con:
            con.execute("PRAGMA synchronous=OFF")  # the load only; the loops use NORMAL
            con.executemany(f"INSERT INTO contact ({', '.join(CONTACT_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(CONTACT_COLUMNS))})", records)
        con.close()
        del records
        print(f"sqlite: {settings.contacts:,} contacts loaded in "
              f"{time.perf_counter() - start:.1f} s"
              f"; {closed_share(rules, datetime.now(UTC))}")
        if settings.explain:
            with sqlite3.connect(template) as con:
                now = sqlite_time(datetime.now(UTC))
                claim = CLAIM_SQL.format(first=FIRST["sqlite"])
                zones = open_zones(rules.calling_start, rules.calling_end, datetime.now(UTC))
                for sql, params in ((claim, (1, now, zones.sqlite, rules.campaign_id, now, now,
                                             now)),
                                    (DNC_CONTACTS_SQL, ("+33600000000",))):
                    plan = con.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
                    print("  plan:", sql[:60], "...", " | ".join(row[-1] for row in plan))
            con.close()

        results = []
        storage_copy = workdir / "storage.db"
        shutil.copy(template, storage_copy)
        db = Database(sqlite_url(storage_copy))
        try:
            async def quiet_then_prove(result: LoopResult) -> Proof:
                await db.dispose()  # every connection closed: the proof reads a quiet file
                return prove_sqlite(result, storage_copy)

            results.append(await measure("sqlite", "storage layer", StorageQueue(db, rules),
                                         settings, quiet_then_prove))
        finally:
            await db.dispose()

        bare_copy = workdir / "bare.db"
        shutil.copy(template, bare_copy)
        bare = BareSqlite(bare_copy, rules)
        try:
            results.append(await measure("sqlite", "bare aiosqlite", bare, settings,
                                         lambda result: prove_sqlite(result, bare_copy)))
        finally:
            await bare.close()
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def bench_postgres(settings: Settings) -> list[tuple[LoopResult, Proof]]:
    storage_db, bare_db = f"{PG_TEMPLATE}_storage", f"{PG_TEMPLATE}_bare"
    start = time.perf_counter()
    await recreate_pg_database(PG_TEMPLATE)
    try:
        await asyncio.to_thread(upgrade, postgres_url(PG_TEMPLATE))
        rules, targets = await load_campaign_rules(postgres_url(PG_TEMPLATE))
        con = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                    database=PG_TEMPLATE)
        try:
            await con.copy_records_to_table(
                "contact", records=contact_records(settings.contacts, rules.campaign_id,
                                                   targets, EPOCH),
                columns=CONTACT_COLUMNS)
            # What autovacuum would do a minute after an import; plans depend on it.
            await con.execute("VACUUM ANALYZE")
            if settings.explain:
                now = datetime.now(UTC)
                claim = numbered(CLAIM_SQL.format(first=FIRST["postgres"]))
                zones = open_zones(rules.calling_start, rules.calling_end, now)
                for sql, params in ((claim, (1, now, zones.postgres, rules.campaign_id, now, now,
                                             now)),
                                    (numbered(DNC_CONTACTS_SQL), ("+33600000000",))):
                    plan = await con.fetch("EXPLAIN " + sql, *params)
                    print("  plan:", sql[:60], "...",
                          " | ".join(row[0].strip() for row in plan))
        finally:
            await con.close()
        await seal_pg_template(PG_TEMPLATE)
        print(f"postgres: {settings.contacts:,} contacts loaded in "
              f"{time.perf_counter() - start:.1f} s"
              f"; {closed_share(rules, datetime.now(UTC))}")

        results = []
        await recreate_pg_database(storage_db, template=PG_TEMPLATE)
        db = Database(postgres_url(storage_db))
        try:
            results.append(await measure("postgres", "storage layer", StorageQueue(db, rules),
                                         settings, lambda r: prove_postgres(r, storage_db)))
        finally:
            await db.dispose()

        await recreate_pg_database(bare_db, template=PG_TEMPLATE)
        # As many connections as the storage layer's pool may open (pool_size + max_overflow).
        pool = await asyncpg.create_pool(host=PG_HOST, port=PG_PORT, user=PG_USER,
                                         database=bare_db, min_size=1, max_size=32)
        try:
            results.append(await measure("postgres", "bare asyncpg", BarePostgres(pool, rules),
                                         settings, lambda r: prove_postgres(r, bare_db)))
        finally:
            await pool.close()
        return results
    finally:
        for name in (storage_db, bare_db, PG_TEMPLATE):
            await drop_pg_database(name)


async def main_async(databases: list[str], settings: Settings) -> None:
    print(f"{settings.contacts:,} contacts, {settings.workers} volunteers, "
          f"{settings.seconds:g} s per loop, DO_NOT_CALL share {settings.dnc_share:.1%}")
    results: list[tuple[LoopResult, Proof]] = []
    for database in databases:
        bench = bench_sqlite if database == "sqlite" else bench_postgres
        for result, proof in await bench(settings):
            report_proof(result, proof)
            results.append((result, proof))

    print("\nops/s = claim + record cycles per second; claim / record latencies include "
          "queueing behind the other volunteers;\nlone DNC record = median of "
          f"{DNC_PROBES} DO_NOT_CALL records made alone after the loop")
    rows: list[tuple[object, ...]] = []
    for result, proof in results:
        rows.append((result.database, result.loop, f"{result.ops:,.0f}",
                     f"{percentile(result.claim_ms, 50):.2f}",
                     f"{percentile(result.claim_ms, 99):.2f}",
                     f"{percentile(result.record_ms, 50):.2f}",
                     f"{percentile(result.record_ms, 99):.2f}",
                     f"{percentile(result.dnc_ms, 50):.1f}",
                     proof.double_assignments))
    print(table(("database", "loop", "ops/s", "claim p50 ms", "claim p99 ms", "record p50 ms",
                 "record p99 ms", "lone DNC record ms", "double assignments"), rows))
    print()
    for database in databases:
        pair = {r.loop.split()[0]: (r, p) for r, p in results if r.database == database}
        (storage, storage_proof), (bare, bare_proof) = pair["storage"], pair["bare"]
        ratio = storage.ops / bare.ops
        clean = storage_proof.double_assignments == bare_proof.double_assignments == 0
        print(f"{database}: storage/bare = {ratio:.1%} (target >= {TARGET_RATIO:.0%}) "
              f"{verdict(ratio >= TARGET_RATIO)}; zero double assignments {verdict(clean)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0, help="per measured loop")
    parser.add_argument("--dnc-share", type=float, default=0.0,
                        help="share of DO_NOT_CALL outcomes in the loops (their cost is "
                        "measured apart, after each loop, either way)")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--profile", action="store_true",
                        help="after the measured loops: per-cycle cost of one volunteer alone, "
                        "aiosqlite round trips, cProfile of the storage layer")
    args = parser.parse_args()
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    asyncio.run(main_async(databases, Settings(args.contacts, args.workers, args.seconds,
                                               args.dnc_share, args.explain, args.profile)))


if __name__ == "__main__":
    main()

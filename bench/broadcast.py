"""Benchmark: broadcasts through the deliverer (pace, exactly once, a crash) and /stats's speed.

    .venv/bin/python bench/broadcast.py [--parts pace,faults,stats] [--fast 10000]
        [--slow 1500] [--full-slow] [--fast-rate 1000] [--slow-rate 25]
        [--fault-recipients 2000] [--blocked-share 0.03] [--flood-every 250]
        [--db sqlite|postgres|both] [--contacts 1000000] [--calls 200000]
        [--volunteers 600] [--repeats 7] [--seed 42] [--explain]

1. pace: recipients bulk-loaded into `users` of a fresh migrated SQLite database with the
   example campaign; a broadcast to everyone made with storage.broadcasts.create_broadcast
   and started with start_due, sent by the deliverer of bot.app.build_deliverer to the fake
   Bot API of tests/fake_telegram.py (in a child process, as Telegram is another machine)
   at SEND_RATE --fast-rate (paid broadcasts on) and --slow-rate. Arrival times at the
   server give the pace.
2. faults: --fault-recipients at --fast-rate, --blocked-share of them blocked the bot (403),
   every --flood-every-th sendMessage answers 429; the deliverer, in a process of its own,
   is killed half-way (SIGKILL), then outbox.recover_stale_claims runs with the clock 2 minutes on,
   and a new deliverer finishes. Nobody may get the message twice.
3. stats: storage.stats.organizer_stats over --contacts contacts and --calls calls today
   (bulk-loaded with the driver), on SQLite and PostgreSQL; each statement timed apart too,
   with the volunteers' "Today's callers" ranking (storage.stats.callers_today) beside them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import logging
import multiprocessing
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

import storage.clock
from bench._common import (
    CAMPAIGN_FILE,
    FIRST_NAMES,
    LAST_NAMES,
    PG_HOST,
    PG_PORT,
    PG_USER,
    ErrorCount,
    draw_place,
    drop_pg_database,
    postgres_url,
    recreate_pg_database,
    sqlite_url,
    table,
    verdict,
)
from bot.app import build_bot, build_deliverer, build_dispatcher, settle_heap
from bot.config import Settings
from handlers.broadcast import footer
from storage import outbox
from storage.broadcasts import create_broadcast, finish_if_done, progress, start_due
from storage.campaigns import load_campaign, local_day_start, parse_campaign_file
from storage.database import Database
from storage.driver import SQL, SQLITE_TIME
from storage.migrate import downgrade, upgrade
from storage.models import UNTARGETED_PRIORITY, Campaign
from storage.stats import (
    _ACTIVE,
    _CALLERS_TODAY,
    _CALLS_BY_HOUR_ROOM,
    _NEW,
    _PROXIES,
    _QUEUE_LEFT,
    OrganizerStats,
    organizer_stats,
)
from tests.fake_telegram import FakeTelegram
from ui.i18n import make_i18n

PACE_TARGET = 0.95  # achieved rate / configured rate
STATS_TARGET_S = 0.300
PG_DATABASE = "toile_bench_stats"
# Wednesday 10 June 2026, 10:00 in Paris: the broadcasts go out (messaging hours open).
SEND_AT = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
# The same day, 19:00 in Paris: /stats is asked for after ten hours of calling.
STATS_AT = datetime(2026, 6, 10, 17, 0, tzinfo=UTC)
RECIPIENT_BASE = 1_000_000
TEXT = ("📣 <b>Ce soir 18h</b> : phoning géant à Saint-Denis, Lyon et Marseille. "
        "Venez avec vos voisins, il reste 12 jours pour convaincre !")
ROOMS = ("Saint-Denis", "Lyon", "Marseille")
SHIFT_HOURS = ((9, 13), (13, 17), (17, 21))  # local
ROOM_VOLUNTEERS = 50  # per room
SHIFT_DAYS = 7  # today and the six days before
OUTCOME_WEIGHTS = {
    "will_vote": 30, "no_answer": 25, "voicemail": 8, "undecided": 10, "not_interested": 10,
    "other_side": 6, "call_back": 3, "needs_proxy": 3, "wants_volunteer": 2,
    "wrong_number": 3, "skipped": 3, "abandoned": 1,
}
RELEASES = frozenset({"skipped", "abandoned"})


# ---- the fake Bot API, in its own process --------------------------------------------------

@dataclass
class Arrival:
    at: float  # time.monotonic() in the server's process (system-wide on Linux)
    chat_id: int
    status: int  # the HTTP status the server answered
    paid: bool  # allow_paid_broadcast was set


class RecordingFake(FakeTelegram):
    """Remembers each sendMessage's answer as well as its arrival."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arrivals: list[Arrival] = []

    async def _handle(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        if request.match_info["method"] == "sendMessage":
            # The parent appended this request's call and answered without awaiting
            # anything since (no faults queued here): it is the last one recorded.
            call = self.calls[-1]
            self.arrivals.append(Arrival(call.at, int(call.params["chat_id"]), response.status,
                                         str(call.params.get("allow_paid_broadcast")).lower()
                                         == "true"))
        return response


@dataclass
class FakeReport:
    arrivals: list[Arrival]
    shown: dict[int, int]  # chat -> messages a person sees in it


def _serve_fake(conn: Connection, blocked: list[int], flood_every: int) -> None:
    async def serve() -> None:
        fake = RecordingFake(blocked=set(blocked), flood_every=flood_every)
        await fake.start()
        # This process imported the bot's modules too (spawn re-imports the benchmark):
        # a full collection over them would stall the fake for a quarter of a second, as
        # no Telegram server does. Out of the collector's sight, as the bot does with its own.
        settle_heap()
        conn.send(fake.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        await fake.stop()
        conn.send(FakeReport(fake.arrivals, {c: len(m) for c, m in fake.chats.items() if m}))

    asyncio.run(serve())


class FakeProcess:
    """FakeTelegram served by a child process: the bot's process keeps its CPU to itself."""

    def __init__(self, blocked: Sequence[int] = (), flood_every: int = 0) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve_fake, args=(child, list(blocked),
                                                                 flood_every), daemon=True)
        self.url = ""

    async def start(self) -> None:
        self.process.start()
        if not await asyncio.to_thread(self.conn.poll, 60):
            raise RuntimeError("the fake Bot API did not start")
        self.url = f"http://127.0.0.1:{self.conn.recv()}"

    async def stop(self) -> FakeReport:
        self.conn.send("stop")
        if not await asyncio.to_thread(self.conn.poll, 60):
            raise RuntimeError("the fake Bot API did not report")
        report: FakeReport = self.conn.recv()
        await asyncio.to_thread(self.process.join, 10)
        return report

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# ---- figures -------------------------------------------------------------------------------

def busiest_second(moments: Sequence[float]) -> int:
    """The most of these sorted moments in any one-second window [t, t + 1)."""
    best, first = 0, 0
    for last, moment in enumerate(moments):
        while moments[first] <= moment - 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def achieved_rate(moments: Sequence[float]) -> float:
    span = moments[-1] - moments[0] if len(moments) > 1 else 0.0
    return (len(moments) - 1) / span if span else 0.0



# ---- recipients and the broadcast ------------------------------------------------------------

USER_COLUMNS = ("id", "first_name", "last_name", "language_code", "is_organizer",
                "volunteer_status", "trained", "blocked", "stopped", "created_at", "generation",
                "recruits", "leaderboard_opt_out", "nudges_sent", "forgotten")


def recipient_records(ids: Sequence[int], created: str, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    for uid in ids:
        yield (uid, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES),
               "fr" if rng.random() < 0.9 else "en", False, "none", False, False, False,
               created, 0, 3, False, 3, False)


def load_recipients(path: Path, ids: Sequence[int], seed: int) -> None:
    created = (SEND_AT - timedelta(days=3)).strftime(SQLITE_TIME)
    with sqlite3.connect(path) as con:
        con.executemany(f"INSERT INTO users ({', '.join(USER_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(USER_COLUMNS))})",
                        recipient_records(ids, created, seed))
    con.close()


@dataclass
class Setup:
    workdir: Path
    url: str
    db: Database
    campaign: Campaign
    broadcast_id: int
    queued: int


async def prepare(recipients: int, seed: int, prefix: str) -> Setup:
    """A migrated SQLite file, the example campaign, the recipients, a broadcast started."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    url = sqlite_url(workdir / "toile.db")
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    campaign, _ = await load_campaign(db, parse_campaign_file(CAMPAIGN_FILE))
    ids = [RECIPIENT_BASE + n for n in range(recipients)]
    await asyncio.to_thread(load_recipients, workdir / "toile.db", ids, seed)
    i18n = make_i18n("fr")
    with i18n.context(), i18n.use_locale("fr"):
        signature = footer(campaign.name)
    broadcast = await create_broadcast(
        db, text=TEXT, visible_length=len(TEXT), footer=signature, audience_kind="everyone",
        audience_value=None, shift_id=None, scheduled_at=None, actor_id=None)
    started = await start_due(db)
    if started != [broadcast.id]:
        raise RuntimeError(f"start_due started {started}, expected [{broadcast.id}]")
    state = await progress(db, broadcast.id or 0)
    return Setup(workdir, url, db, campaign, broadcast.id or 0, state.total if state else 0)


def settings_for(url: str, api: str, rate: float) -> Settings:
    return Settings(bot_token="42:TEST", telegram_api_url=api, database_url=url,
                    redis_url=None, send_rate=rate,
                    allow_paid_broadcast=rate > 30,
                    _env_file=None)  # type: ignore[call-arg]


class Sender:
    """A deliverer as `toile run` builds it, pointed at the fake server."""

    def __init__(self, db: Database, url: str, api: str, rate: float) -> None:
        settings = settings_for(url, api, rate)
        self.bot = build_bot(settings, timeout=10)
        self.deliverer = build_deliverer(build_dispatcher(settings, db), self.bot, settings)
        settle_heap()  # as `toile run` does once started
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.deliverer.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.bot.session.close()


async def wait_until(db: Database, broadcast_id: int, done: Callable[[dict[str, int]], bool],
                     deadline: float) -> dict[str, int]:
    """Outbox statuses of the broadcast, polled until `done` says so or the deadline."""
    while True:
        state = await batch_counts(db, broadcast_id)
        if done(state) or time.perf_counter() > deadline:
            return state
        await asyncio.sleep(0.05)


_BATCH = SQL.of("SELECT status, count(*) FROM outbox WHERE batch = :batch GROUP BY status")


async def batch_counts(db: Database, broadcast_id: int) -> dict[str, int]:
    async with db.fast_read() as tx:
        return {str(s): int(n) for s, n in await tx.all(_BATCH, batch=f"broadcast:{broadcast_id}")}


def finished(state: dict[str, int]) -> int:
    return state.get("sent", 0) + state.get("failed", 0) + state.get("skipped", 0)


# ---- part 1: pace ------------------------------------------------------------------------------

@dataclass
class PaceResult:
    recipients: int
    rate: float
    paid: bool
    arrivals: list[float]
    seconds: float  # from the deliverer's start to the last row finished
    problems: list[str]

    @property
    def achieved(self) -> float:
        return achieved_rate(self.arrivals)


async def clean_up(setup: Setup | None, fake: FakeProcess, errors: ErrorCount,
                   real_utcnow: Callable[[], datetime]) -> None:
    """After a part, whatever happened: the real clock back, the fake and the files gone."""
    storage.clock.utcnow = real_utcnow
    fake.kill()
    logging.getLogger().removeHandler(errors)
    if setup is not None:
        await setup.db.dispose()
        shutil.rmtree(setup.workdir, ignore_errors=True)


async def bench_pace(recipients: int, rate: float, seed: int) -> PaceResult:
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    real_utcnow = storage.clock.utcnow
    storage.clock.utcnow = lambda: SEND_AT  # frozen, as tests/conftest.py's FrozenClock
    fake = FakeProcess()
    setup: Setup | None = None
    problems: list[str] = []
    try:
        await fake.start()
        setup = await prepare(recipients, seed, "toile-bench-broadcast-")
        if setup.queued != recipients:
            problems.append(f"broadcast total {setup.queued}, expected {recipients}")
        sender = Sender(setup.db, setup.url, fake.url, rate)
        started = time.perf_counter()
        sender.start()
        try:
            state = await wait_until(setup.db, setup.broadcast_id,
                                     lambda s: finished(s) >= setup.queued,  # type: ignore[union-attr]
                                     started + recipients / rate * 3 + 60)
        finally:
            seconds = time.perf_counter() - started
            await sender.stop()
        if state != {"sent": recipients}:
            problems.append(f"outbox statuses {state}")
        if not await finish_if_done(setup.db, setup.broadcast_id):
            problems.append("the broadcast could not be marked done")
        report = await fake.stop()
    finally:
        await clean_up(setup, fake, errors, real_utcnow)
    ok = [a for a in report.arrivals if a.status == 200]
    if len(ok) != len(report.arrivals):
        problems.append(f"{len(report.arrivals) - len(ok)} sendMessage refused")
    expected = {RECIPIENT_BASE + n for n in range(recipients)}
    per_chat = Counter(a.chat_id for a in ok)
    if set(per_chat) != expected or set(per_chat.values()) != {1} or \
            set(report.shown.values()) != {1}:
        twice = sum(1 for n in per_chat.values() if n > 1)
        problems.append(f"{len(ok)} sent to {len(per_chat)} chats, {twice} got more than one, "
                        f"{len(expected - set(per_chat))} got none")
    paid = all(a.paid for a in ok)
    if paid != (rate > 30):
        problems.append(f"allow_paid_broadcast {'set' if paid else 'not set'} at {rate:g}/s")
    problems += [f"logged: {m}" for m in errors.messages[:3]]
    return PaceResult(recipients, rate, paid, sorted(a.at for a in ok), seconds, problems)


# ---- part 2: faults and a crash ------------------------------------------------------------------

def _deliver_until_killed(url: str, api: str, rate: float, t0: float,
                          conn: Connection) -> None:
    """A bot process that only delivers, until SIGKILL stops it mid-way."""
    async def main() -> None:
        storage.clock.utcnow = lambda: SEND_AT + timedelta(seconds=time.monotonic() - t0)
        logging.basicConfig(level=logging.ERROR)  # not each 429's warning on the report
        sender = Sender(Database(url), url, api, rate)
        sender.start()
        conn.send("started")
        await asyncio.Event().wait()

    asyncio.run(main())


class DelivererProcess:
    """The first deliverer, in a process of its own, so that the crash is a real kill -9:
    no `finally`, no cancellation, the process simply stops where it is."""

    def __init__(self, url: str, api: str, rate: float, t0: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_deliver_until_killed,
                                       args=(url, api, rate, t0, child), daemon=True)

    async def start(self) -> None:
        self.process.start()
        if not await asyncio.to_thread(self.conn.poll, 120):
            raise RuntimeError("the deliverer process did not start")
        self.conn.recv()

    async def kill(self) -> None:
        self.process.kill()  # SIGKILL
        await asyncio.to_thread(self.process.join, 30)


@dataclass
class FaultResult:
    recipients: int
    rate: float
    blocked: int
    flood_every: int
    at_crash: dict[str, int]
    recovered: int
    final: dict[str, int]
    refused_429: int
    refused_403: int
    exactly_once: int  # reachable people who got it once (rows not left `sending`)
    missing: list[int]  # reachable, not left `sending`, got nothing
    twice: list[int]
    left_sending: int
    left_sending_got: int  # of those, how many got it (once)
    blocked_marked: int
    blocked_to_mark: int  # blocked recipients whose row was not left `sending`
    blocked_shown: int  # messages shown in blocked chats (must be 0)
    seconds: float
    problems: list[str] = field(default_factory=list)


_LEFT_SENDING = SQL.of("SELECT chat_id FROM outbox WHERE batch = :batch AND status = 'sending'")
_BLOCKED = SQL.of("SELECT id FROM users WHERE blocked")


async def bench_faults(recipients: int, rate: float, blocked_share: float, flood_every: int,
                       seed: int) -> FaultResult:
    rng = random.Random(seed + 9)
    ids = [RECIPIENT_BASE + n for n in range(recipients)]
    blocked = set(rng.sample(ids, round(recipients * blocked_share)))
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    real_utcnow = storage.clock.utcnow
    # The clock runs from SEND_AT (a 429 the bot's own retries could not absorb is due
    # again 30 s later), and jumps two minutes at the crash.
    t0, jump = time.monotonic(), timedelta()  # monotonic: the same clock in every process
    storage.clock.utcnow = lambda: SEND_AT + jump + timedelta(seconds=time.monotonic() - t0)
    # Each 429 closes every send for its retry_after (1 s): at 5 % that, not the rate,
    # sets the pace.
    flood_s = recipients / flood_every * 1.5 if flood_every else 0.0
    fake = FakeProcess(sorted(blocked), flood_every)
    setup: Setup | None = None
    try:
        await fake.start()
        setup = await prepare(recipients, seed, "toile-bench-broadcast-faults-")
        started = time.perf_counter()
        first = DelivererProcess(setup.url, fake.url, rate, t0)
        await first.start()
        try:
            await wait_until(setup.db, setup.broadcast_id,
                             lambda s: finished(s) >= recipients // 2,
                             started + recipients / rate * 3 + 60 + flood_s)
        finally:
            # The crash: kill -9 of the deliverer's process, its sends in flight with it.
            await first.kill()
        at_crash = await batch_counts(setup.db, setup.broadcast_id)
        async with setup.db.fast_read() as tx:
            left_sending = {int(r[0]) for r in await tx.all(
                _LEFT_SENDING, batch=f"broadcast:{setup.broadcast_id}")}
        # Another process, two minutes later: what the dead one had claimed is due again.
        jump = timedelta(minutes=2)
        recovered = await outbox.recover_stale_claims(setup.db)
        second = Sender(setup.db, setup.url, fake.url, rate)
        second.start()
        try:
            final = await wait_until(
                setup.db, setup.broadcast_id,
                # Done when all is finished but the rows the crash left `sending` (never
                # sent again): stopping earlier would cut a send of this deliverer short.
                lambda s: finished(s) + len(left_sending) >= recipients,
                time.perf_counter() + recipients / rate * 3 + 60 + flood_s)
        finally:
            seconds = time.perf_counter() - started
            await second.stop()
        async with setup.db.fast_read() as tx:
            marked = {int(r[0]) for r in await tx.all(_BLOCKED)}
        report = await fake.stop()
    finally:
        await clean_up(setup, fake, errors, real_utcnow)

    got = Counter(a.chat_id for a in report.arrivals if a.status == 200)
    reachable = [uid for uid in ids if uid not in blocked]
    firm = [uid for uid in reachable if uid not in left_sending]
    result = FaultResult(
        recipients=recipients, rate=rate, blocked=len(blocked), flood_every=flood_every,
        at_crash=at_crash, recovered=recovered, final=final,
        refused_429=sum(1 for a in report.arrivals if a.status == 429),
        refused_403=sum(1 for a in report.arrivals if a.status == 403),
        exactly_once=sum(1 for uid in firm if got[uid] == 1),
        missing=[uid for uid in firm if got[uid] == 0],
        twice=sorted(uid for uid, n in got.items() if n > 1),
        left_sending=len(left_sending),
        left_sending_got=sum(1 for uid in left_sending if got[uid] == 1),
        blocked_marked=len(marked & blocked),
        blocked_to_mark=len(blocked - left_sending),
        blocked_shown=sum(report.shown.get(uid, 0) for uid in blocked),
        seconds=seconds)
    if marked - blocked:
        result.problems.append(f"{len(marked - blocked)} people marked blocked who were not")
    if any(report.shown.get(uid, 0) != got[uid] for uid in ids):
        result.problems.append("the chats and the answers disagree")
    result.problems += [f"logged: {m}" for m in errors.messages[:3]]
    return result


# ---- part 3: /stats ----------------------------------------------------------------------------

CONTACT_COLUMNS = ("campaign_id", "phone", "first_name", "last_name", "constituency", "commune",
                   "postal_code", "source", "priority", "status", "attempts", "due_at",
                   "lease_seq")
CALL_COLUMNS = ("contact_id", "campaign_id", "volunteer_id", "lease_seq", "outcome",
                "created_at")
SHIFT_COLUMNS = ("id", "room", "address", "starts_at", "ends_at", "capacity", "note",
                 "cancelled", "created_at")
SIGNUP_COLUMNS = ("shift_id", "user_id", "status", "joined_at")
VOLUNTEER_BASE = 500_000_000
ROOMLESS_REVISION = "0004"  # the last schema without call.room


@dataclass
class StatsData:
    """What is loaded, in the driver's own values, and what /stats should answer."""

    users: list[tuple[Any, ...]]
    shifts: list[tuple[Any, ...]]
    signups: list[tuple[Any, ...]]
    calls: list[tuple[Any, ...]]
    contact_status: dict[int, str]  # contacts called: done, or open to call again
    expected_today: int
    expected_rooms: dict[str, int]


def make_stats_data(campaign: Campaign, calls: int, volunteers: int, contacts: int,
                    seed: int) -> StatsData:
    """Volunteers (ROOM_VOLUNTEERS a room signed up to shifts, the rest remote), a week of
    shifts, and today's calls: a room volunteer calls during the shifts they joined, a remote
    one at any time from 9:00 to now."""
    rng = random.Random(seed)
    tz = ZoneInfo(campaign.timezone)
    today = STATS_AT.astimezone(tz).date()
    opening = datetime.combine(today, datetime.min.time(), tzinfo=tz).replace(hour=9)
    users = [(VOLUNTEER_BASE + n, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), "fr", False,
              "approved", True, False, False, STATS_AT - timedelta(days=rng.randrange(1, 20)),
              0, 0, False, 3, False) for n in range(volunteers)]
    shifts, signups = [], []
    today_shifts: dict[int, list[tuple[datetime, datetime, str]]] = {}
    shift_id = 0
    for day in range(SHIFT_DAYS):
        date = today - timedelta(days=day)
        for r, room in enumerate(ROOMS):
            for start, end in SHIFT_HOURS:
                shift_id += 1
                starts = datetime.combine(date, datetime.min.time(), tzinfo=tz).replace(
                    hour=start).astimezone(UTC)
                ends = starts + timedelta(hours=end - start)
                shifts.append((shift_id, room, f"{room}, salle des fêtes", starts, ends, 60, "",
                               False, starts - timedelta(days=2)))
                for v in range(ROOM_VOLUNTEERS):
                    uid = VOLUNTEER_BASE + r * ROOM_VOLUNTEERS + v
                    if rng.random() < 0.5:
                        continue  # not this shift
                    status = rng.choices(("joined", "attended", "left"), (6, 3, 1))[0]
                    signups.append((shift_id, uid, status, starts - timedelta(days=1)))
                    if day == 0 and status != "left":
                        today_shifts.setdefault(uid, []).append((starts, ends, room))
    room_volunteers = sorted(today_shifts)
    remote = list(range(VOLUNTEER_BASE + len(ROOMS) * ROOM_VOLUNTEERS,
                        VOLUNTEER_BASE + volunteers))
    outcomes, weights = list(OUTCOME_WEIGHTS), list(OUTCOME_WEIGHTS.values())
    start_s, end_s = opening.timestamp(), STATS_AT.timestamp()
    called = rng.sample(range(1, contacts + 1), calls)
    records, status = [], {}
    today_count, rooms = 0, Counter[str]()
    for contact_id in called:
        # A third of the calls from the rooms, the rest from remote volunteers.
        if rng.random() < 1 / 3 and room_volunteers:
            uid = rng.choice(room_volunteers)
            starts, ends, room = rng.choice(today_shifts[uid])
            low, high = starts.timestamp(), min(ends.timestamp(), end_s)
            if low >= high:  # a shift not begun yet: this call is from an earlier one
                starts, ends, room = min(today_shifts[uid])
                low, high = starts.timestamp(), min(ends.timestamp(), end_s)
        else:
            uid, room = rng.choice(remote), "remote"
            low, high = start_s, end_s
        at = datetime.fromtimestamp(rng.uniform(low, high - 1), UTC)
        outcome = rng.choices(outcomes, weights)[0]
        records.append((contact_id, campaign.id, uid, 1, outcome, at))
        status[contact_id] = "open" if outcome in ("no_answer", "voicemail", "call_back",
                                                   "skipped", "abandoned") else "done"
        if outcome not in RELEASES:
            today_count += 1
            rooms[room] += 1
    return StatsData(users, shifts, signups, records, status, today_count, dict(rooms))


def contact_records(count: int, campaign: Campaign, called: dict[int, str], due: Any,
                    seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed + 1)
    rank = {name.casefold(): i for i, name in enumerate(campaign.target_constituencies)}
    for contact_id in range(1, count + 1):
        place = draw_place(rng)
        status = called.get(contact_id, "open")
        yield (campaign.id, f"+336{contact_id:08d}", rng.choice(FIRST_NAMES),
               rng.choice(LAST_NAMES), place.constituency, place.commune, place.postal_code,
               "bench", rank.get(place.constituency.casefold(), UNTARGETED_PRIORITY), status,
               1 if contact_id in called else 0, due, 1 if contact_id in called else 0)


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.astimezone(UTC).strftime(SQLITE_TIME) if isinstance(v, datetime) else v
                 for v in row)


def insert_sql(name: str, columns: Sequence[str]) -> str:
    return (f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
            f"({', '.join('?' * len(columns))})")


def load_stats_sqlite(path: Path, data: StatsData, campaign: Campaign, contacts: int,
                      seed: int) -> None:
    due = (STATS_AT - timedelta(days=30)).strftime(SQLITE_TIME)
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA synchronous=OFF")  # the load only; the bot uses NORMAL
        con.executemany(insert_sql("users", USER_COLUMNS), map(_sqlite_row, data.users))
        con.executemany(insert_sql("contact", CONTACT_COLUMNS),
                        contact_records(contacts, campaign, data.contact_status, due, seed))
        con.executemany(insert_sql("shift", SHIFT_COLUMNS), map(_sqlite_row, data.shifts))
        con.executemany(insert_sql("shift_signup", SIGNUP_COLUMNS),
                        map(_sqlite_row, data.signups))
        con.executemany(insert_sql("call", CALL_COLUMNS), map(_sqlite_row, data.calls))
    con.close()


async def load_stats_postgres(database: str, data: StatsData, campaign: Campaign,
                              contacts: int, seed: int) -> None:
    con = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)
    try:
        await con.copy_records_to_table("users", records=data.users, columns=USER_COLUMNS)
        await con.copy_records_to_table(
            "contact", records=contact_records(contacts, campaign, data.contact_status,
                                               STATS_AT - timedelta(days=30), seed),
            columns=CONTACT_COLUMNS)
        await con.copy_records_to_table("shift", records=data.shifts, columns=SHIFT_COLUMNS)
        await con.execute("SELECT setval(pg_get_serial_sequence('shift', 'id'), "
                          "(SELECT max(id) FROM shift))")
        await con.copy_records_to_table("shift_signup", records=data.signups,
                                        columns=SIGNUP_COLUMNS)
        await con.copy_records_to_table("call", records=data.calls, columns=CALL_COLUMNS)
    finally:
        await con.close()


async def vacuum_analyze(database: str) -> None:
    """What autovacuum does soon after a load or an upgrade; plans depend on it."""
    con = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)
    try:
        await con.execute("VACUUM ANALYZE")
    finally:
        await con.close()


@dataclass
class StatsResult:
    database: str
    load_s: float
    first_s: float
    times: list[float]
    per_query: dict[str, float]  # median seconds of each statement alone
    problems: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def stats_queries(campaign: Campaign) -> dict[str, tuple[SQL, dict[str, Any]]]:
    day = local_day_start(campaign, STATS_AT)
    return {
        "calls by room, hour, outcome": (_CALLS_BY_HOUR_ROOM,
                                         {"campaign_id": campaign.id, "day": day}),
        "queue left": (_QUEUE_LEFT, {"campaign_id": campaign.id}),
        "active volunteers": (_ACTIVE, {"campaign_id": campaign.id,
                                        "since": STATS_AT - timedelta(minutes=15)}),
        "proxies matched": (_PROXIES, {}),
        "new supporters": (_NEW, {"since": day}),
        # Not part of /stats: the volunteers' "Today's callers" (handlers.me), on the same day.
        "callers ranking": (_CALLERS_TODAY, {"campaign_id": campaign.id, "day": day}),
    }


def check_stats(got: OrganizerStats, data: StatsData, contacts: int) -> list[str]:
    problems = []
    if got.today != data.expected_today:
        problems.append(f"today: got {got.today}, expected {data.expected_today}")
    rooms = {("remote" if room in ("", "remote") else room): n for room, n in
             got.by_room.items()}
    if rooms != data.expected_rooms:
        problems.append(f"rooms: got {rooms}, expected {data.expected_rooms}")
    queue = contacts - sum(1 for s in data.contact_status.values() if s == "done")
    if got.queue_left != queue:
        problems.append(f"queue left: got {got.queue_left}, expected {queue}")
    return problems


async def explain(db: Database, campaign: Campaign) -> None:
    async with db.fast_read(long=True) as tx:
        for name, (sql, params) in stats_queries(campaign).items():
            if db.is_sqlite:
                rows = await tx.all(replace(sql, sqlite="EXPLAIN QUERY PLAN " + sql.sqlite),
                                    **params)
                print(f"  plan ({name}): " + " | ".join(str(row[-1]) for row in rows))
            else:
                rows = await tx.all(
                    replace(sql, postgres="EXPLAIN (ANALYZE, BUFFERS) " + sql.postgres),
                    **params)
                print(f"  plan ({name}):")
                for row in rows:
                    print("    " + str(row[0]))


async def time_stats(database: str, url: str, campaign: Campaign, data: StatsData,
                     contacts: int, load_s: float, repeats: int,
                     show_plans: bool) -> StatsResult:
    db = Database(url)
    try:
        started = time.perf_counter()
        got = await organizer_stats(db, campaign, STATS_AT)  # cold: a connection is opened
        first = time.perf_counter() - started
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            got = await organizer_stats(db, campaign, STATS_AT)
            times.append(time.perf_counter() - started)
        per_query: dict[str, float] = {}
        for name, (sql, params) in stats_queries(campaign).items():
            alone = []
            for _ in range(max(3, repeats // 2)):
                async with db.fast_read(long=True) as tx:
                    started = time.perf_counter()
                    await tx.all(sql, **params)
                    alone.append(time.perf_counter() - started)
            per_query[name] = statistics.median(alone)
        if show_plans:
            await explain(db, campaign)
    finally:
        await db.dispose()
    return StatsResult(database, load_s, first, times, per_query,
                       check_stats(got, data, contacts))


async def bench_stats(database: str, args: argparse.Namespace) -> StatsResult:
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-stats-"))
    try:
        if database == "sqlite":
            url = sqlite_url(workdir / "toile.db")
        else:
            url = postgres_url(PG_DATABASE)
            await recreate_pg_database(PG_DATABASE)
        # The calls are loaded as they were before revision 0005, which stores each call's
        # room; the upgrade then works the rooms out from the shifts, as the bot does when
        # recording a call: the check below compares that with the generator's rooms.
        # The campaign is loaded by today's code, into today's schema; the schema then goes
        # back to that revision, keeping the campaign's row.
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        try:
            campaign, _ = await load_campaign(db, parse_campaign_file(CAMPAIGN_FILE))
        finally:
            await db.dispose()
        await asyncio.to_thread(downgrade, url, ROOMLESS_REVISION)
        data = make_stats_data(campaign, args.calls, args.volunteers, args.contacts, args.seed)
        started = time.perf_counter()
        if database == "sqlite":
            await asyncio.to_thread(load_stats_sqlite, workdir / "toile.db", data, campaign,
                                    args.contacts, args.seed)
        else:
            await load_stats_postgres(PG_DATABASE, data, campaign, args.contacts, args.seed)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.to_thread(upgrade, url)
        upgrade_s = time.perf_counter() - started
        if database == "postgres":
            await vacuum_analyze(PG_DATABASE)
        print(f"{database}: {args.contacts:,} contacts, {len(data.calls):,} calls today, "
              f"{len(data.users)} volunteers, {len(data.shifts)} shifts, "
              f"{len(data.signups):,} signups loaded in {load_s:.1f} s; the upgrade from "
              f"{ROOMLESS_REVISION} to the latest schema (0005 gives every call its room) "
              f"took {upgrade_s:.1f} s")
        return await time_stats(database, url, campaign, data, args.contacts, load_s,
                                args.repeats, args.explain)
    finally:
        if database == "postgres":
            await drop_pg_database(PG_DATABASE)
        shutil.rmtree(workdir, ignore_errors=True)


# ---- the report ----------------------------------------------------------------------------------

def report(paces: Sequence[PaceResult], faults: FaultResult | None,
           stats: Sequence[StatsResult]) -> None:
    if paces:
        print(f"\nbroadcast pacing (SQLite, deliverer -> fake Bot API in a child process); "
              f"target: achieved >= {PACE_TARGET:.0%} of the configured rate, busiest 1 s "
              "window <= the rate, every recipient exactly once")
        print(table(("recipients", "configured/s", "paid", "achieved/s", "achieved %",
                     "busiest 1 s window", "first to last s", "until all done s",
                     "exactly once"), [
            (f"{p.recipients:,}", f"{p.rate:g}", "yes" if p.paid else "no",
             f"{p.achieved:.2f}", f"{p.achieved / p.rate:.1%}", busiest_second(p.arrivals),
             f"{p.arrivals[-1] - p.arrivals[0]:.1f}" if p.arrivals else "-",
             f"{p.seconds:.1f}", "FAIL" if p.problems else "OK") for p in paces]))
        for p in paces:
            for line in p.problems[:5]:
                print(f"  {p.rate:g}/s: {line}")
    if faults:
        f = faults
        print(f"\nfaults and a crash: {f.recipients:,} recipients at {f.rate:g}/s, {f.blocked} "
              f"blocked the bot (403), every {f.flood_every}th sendMessage answers 429")
        print(f"  at the crash (half-way): outbox {f.at_crash}")
        print(f"  2 minutes later: {f.recovered} stale claims handed out again; final outbox "
              f"{f.final}")
        print(f"  the server answered {f.refused_429} x 429 and {f.refused_403} x 403; "
              f"{f.seconds:.1f} s in all")
        print(f"  reachable people whose row was not left `sending`: "
              f"{f.exactly_once:,} got it exactly once, {len(f.missing)} got nothing")
        print(f"  rows left `sending` at the crash: {f.left_sending} (at most once: "
              f"{f.left_sending_got} got it, {f.left_sending - f.left_sending_got} did not)")
        print(f"  blocked marked in users.blocked: {f.blocked_marked} of {f.blocked} "
              f"({f.blocked_to_mark} not left `sending`); messages shown in blocked chats: "
              f"{f.blocked_shown}")
        print(f"  got it twice: {len(f.twice)}" + (f" {f.twice[:10]}" if f.twice else ""))
        for line in f.problems:
            print(f"  {line}")
    if stats:
        print(f"\n/stats (organizer_stats): first call, then the repeats; target: median <= "
              f"{STATS_TARGET_S * 1000:.0f} ms")
        print(table(("database", "load s", "first ms", "min ms", "median ms", "max ms",
                     "figures"), [
            (s.database, f"{s.load_s:.1f}", f"{s.first_s * 1000:.0f}",
             f"{min(s.times) * 1000:.0f}", f"{s.median * 1000:.0f}",
             f"{max(s.times) * 1000:.0f}", "MISMATCH" if s.problems else "OK")
            for s in stats]))
        names = list(stats[0].per_query)
        print("each statement alone, median ms:")
        print(table(("database", *names), [
            (s.database, *(f"{s.per_query[n] * 1000:.1f}" for n in names)) for s in stats]))
        for s in stats:
            for line in s.problems:
                print(f"  {s.database}: {line}")

    print()
    for p in paces:
        print(f"broadcast {p.recipients:,} at {p.rate:g}/s: achieved "
              f"{p.achieved / p.rate:.1%} (target >= {PACE_TARGET:.0%}) "
              f"{verdict(p.achieved >= PACE_TARGET * p.rate)}; busiest second "
              f"{busiest_second(p.arrivals)} (target <= {p.rate:g}) "
              f"{verdict(busiest_second(p.arrivals) <= p.rate)}; exactly once "
              f"{verdict(not p.problems)}")
    if faults:
        f = faults
        # A blocked person whose row the crash left `sending` may be marked too (the 403
        # came back, the crash struck before the row's own mark): more is no fault.
        ok = (not f.twice and not f.missing and not f.problems and f.blocked_shown == 0
              and f.blocked_marked >= f.blocked_to_mark)
        print(f"faults and a crash: nobody twice {verdict(not f.twice)}; every reachable person "
              f"once (except {f.left_sending} left `sending`: at most once) "
              f"{verdict(not f.missing)}; blocked marked "
              f"{verdict(f.blocked_marked >= f.blocked_to_mark)}; all {verdict(ok)}")
    for s in stats:
        print(f"{s.database}: /stats median {s.median * 1000:.0f} ms (min "
              f"{min(s.times) * 1000:.0f} ms; target <= {STATS_TARGET_S * 1000:.0f} ms) "
              f"{verdict(s.median <= STATS_TARGET_S)}; figures {verdict(not s.problems)}")


async def main_async(args: argparse.Namespace) -> None:
    parts = set(args.parts.split(","))
    unknown = parts - {"pace", "faults", "stats"}
    if unknown:
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))}")
    paces: list[PaceResult] = []
    faults = None
    stats: list[StatsResult] = []
    if "pace" in parts:
        for recipients, rate in ((args.fast, args.fast_rate),
                                 (args.fast if args.full_slow else args.slow, args.slow_rate)):
            print(f"pace: {recipients:,} recipients at {rate:g}/s ...", flush=True)
            paces.append(await bench_pace(recipients, rate, args.seed))
    if "faults" in parts:
        print(f"faults: {args.fault_recipients:,} recipients at {args.fast_rate:g}/s ...",
              flush=True)
        faults = await bench_faults(args.fault_recipients, args.fast_rate, args.blocked_share,
                                    args.flood_every, args.seed)
    if "stats" in parts:
        for database in ("sqlite", "postgres") if args.db == "both" else (args.db,):
            stats.append(await bench_stats(database, args))
    report(paces, faults, stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="pace,faults,stats",
                        help="comma-separated: pace, faults, stats")
    parser.add_argument("--fast", type=int, default=10_000, help="recipients at --fast-rate")
    parser.add_argument("--slow", type=int, default=1_500, help="recipients at --slow-rate")
    parser.add_argument("--full-slow", action="store_true",
                        help="--fast recipients at --slow-rate too (10,000 at 25/s: ~7 min)")
    parser.add_argument("--fast-rate", type=float, default=1000.0,
                        help="SEND_RATE with paid broadcasts")
    parser.add_argument("--slow-rate", type=float, default=25.0, help="SEND_RATE, unpaid")
    parser.add_argument("--fault-recipients", type=int, default=2_000)
    parser.add_argument("--blocked-share", type=float, default=0.03)
    parser.add_argument("--flood-every", type=int, default=250,
                        help="every n-th sendMessage answers 429 (retry after 1 s)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both",
                        help="for stats")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200_000, help="calls recorded today")
    parser.add_argument("--volunteers", type=int, default=600,
                        help=f"of which {len(ROOMS) * ROOM_VOLUNTEERS} in the rooms")
    parser.add_argument("--repeats", type=int, default=7, help="timed organizer_stats calls")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--explain", action="store_true",
                        help="print the /stats statements' plans (PostgreSQL: EXPLAIN ANALYZE)")
    args = parser.parse_args()
    if min(args.fast, args.slow, args.fault_recipients) < 2 or args.repeats < 1:
        parser.error("recipients must be >= 2 and --repeats >= 1")
    if args.calls > args.contacts or args.volunteers <= len(ROOMS) * ROOM_VOLUNTEERS:
        parser.error(f"--calls must be <= --contacts, --volunteers > "
                     f"{len(ROOMS) * ROOM_VOLUNTEERS}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

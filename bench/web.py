"""Benchmark: the spider's web at campaign scale: /web's figures, joins at once, nudge pacing.

    .venv/bin/python bench/web.py [--db sqlite|postgres|both] [--parts stats,joins,nudges]
        [--supporters 200000] [--generations 12] [--roots 12] [--days 20] [--repeats 7]
        [--joins 1000] [--codes 100] [--nudges 750] [--rate 25] [--seed 42] [--explain]

1. stats: a generated web of --supporters people over --generations generations is
   bulk-loaded into the `users` table of a freshly migrated database (executemany / COPY);
   storage.web.web_stats is timed --repeats times and its figures checked against the
   generator's.
2. joins: --joins new people join at once (asyncio.gather) through the links of --codes
   existing supporters: attribute_referral alone (rows made beforehand), then arrive +
   attribute_referral as the bot's first update does; every attribution must count once.
   Before them, as many people arrive without a link (arrive alone: no target, it shows
   what share of a join creating the row takes).
3. nudges: --nudges nudges planned with plan_nudges are sent by the real deliverer to the
   fake Bot API of tests/fake_telegram.py at --rate; the arrival times give the pace.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import base64
import heapq
import itertools
import logging
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import text

import storage.clock
from bench._common import (
    CAMPAIGN_FILE,
    FIRST_NAMES,
    LAST_NAMES,
    PG_HOST,
    PG_PORT,
    PG_USER,
    ErrorCount,
    drop_pg_database,
    postgres_url,
    recreate_pg_database,
    sqlite_url,
    table,
    verdict,
)
from bot.app import build_bot, build_deliverer, build_dispatcher
from bot.config import Settings
from storage import outbox
from storage.campaigns import load_campaign, local_day_start, parse_campaign_file
from storage.database import Database
from storage.driver import SQL, SQLITE_TIME
from storage.migrate import upgrade
from storage.models import Campaign
from storage.users import Profile, arrive, ensure_user
from storage.web import (
    GOAL,
    LEADERBOARD_SIZE,
    WebStats,
    attribute_referral,
    plan_nudges,
    web_stats,
)
from storage.web.figures import _BY_HOUR, _TOP, _TOTALS
from tests.fake_telegram import FakeTelegram

STATS_TARGET_S = 1.0
JOINS_TARGET = 500.0  # joins per second
PACE_TARGET = 0.90  # achieved rate / configured rate
PG_DATABASE = "toile_bench_web"
# Wednesday 10 June 2026, 10:00 in Paris: /web is asked for now; the web grew until a
# minute ago.
NOW = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
# Monday 1 June 2026, 10:00 in Paris: the nudged supporters join; nudged the next morning.
JOINED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
NEWCOMER_BASE = 9_000_000_000  # above every generated Telegram id
NUDGED_BASE = 1_000_000
# How many people one supporter brings (0, 1, 2, ... 9): over a third bring nobody, a few
# bring many; the mean (2.19) makes a dozen founders reach 200,000 within 12 generations.
RECRUIT_WEIGHTS = (35, 15, 12, 11, 9, 7, 5, 3, 2, 1)
MEAN_DELAY_DAYS = 1.2  # between a supporter joining and each of their recruits joining
CODE_SHARE = 0.6  # people who brought nobody but asked for their link once
OPT_OUT_SHARE = 0.03  # left the rankings
FORGOTTEN_SHARE = 0.002  # /forget: anonymous nodes, kept so their recruits still count


# ---- the generated web -----------------------------------------------------------------

@dataclass
class Web:
    """Everything the generator knows; index i is the i-th person to join."""

    ids: list[int]
    parent: list[int]  # index of the referrer, -1 for someone who came on their own
    generation: list[int]
    joined: list[datetime]
    recruits: list[int]
    codes: list[str | None]
    first_names: list[str]
    opted_out: list[bool]
    forgotten: list[bool]
    self_arrivals: int  # founders added when every branch had stopped growing

    def __len__(self) -> int:
        return len(self.ids)


def generate_web(size: int, generations: int, roots: int, days: float,
                 seed: int) -> Web:
    """People join in time order: each brings a random number of recruits, who join after a
    random delay and bring their own, down to `generations`; the first `size` joins are
    kept (the last ones have had no time to recruit yet), and their times stretched to
    span `days` days ending a minute before NOW."""
    rng = random.Random(seed)
    seq = itertools.count()
    pending: list[tuple[float, int, int, int]] = []  # (day, tie-break, generation, parent)
    for _ in range(roots):
        heapq.heappush(pending, (rng.uniform(0, 1), next(seq), 0, -1))
    parent: list[int] = []
    generation: list[int] = []
    at: list[float] = []
    self_arrivals = 0
    counts = range(len(RECRUIT_WEIGHTS))
    while len(parent) < size:
        if not pending:  # every branch stopped: someone new comes on their own
            heapq.heappush(pending, (at[-1] + rng.uniform(0, 0.1), next(seq), 0, -1))
            self_arrivals += 1
        day, _, gen, referrer = heapq.heappop(pending)
        index = len(parent)
        parent.append(referrer)
        generation.append(gen)
        at.append(day)
        if gen < generations:
            for _ in range(rng.choices(counts, RECRUIT_WEIGHTS)[0]):
                heapq.heappush(pending, (day + 0.01 + rng.expovariate(1 / MEAN_DELAY_DAYS),
                                         next(seq), gen + 1, index))
    start, span = at[0], (at[-1] - at[0]) or 1.0
    first = NOW - timedelta(minutes=1) - timedelta(days=days)
    joined = [first + timedelta(days=(t - start) / span * days) for t in at]
    recruits = [0] * size
    for p in parent:
        if p >= 0:
            recruits[p] += 1
    forgotten = [rng.random() < FORGOTTEN_SHARE for _ in range(size)]
    # Telegram ids: random, unique; a forgotten person's node has a negative one instead.
    ids = rng.sample(range(100_000_000, 8_000_000_000), size)
    anonymous = rng.sample(range(1, 2**62), sum(forgotten))
    for i in (i for i in range(size) if forgotten[i]):
        ids[i] = -anonymous.pop()
    codes: list[str | None] = [
        None if forgotten[i] or (recruits[i] == 0 and rng.random() >= CODE_SHARE)
        # 16 url-safe characters, as secrets.token_urlsafe(12) makes them, but seeded.
        else base64.urlsafe_b64encode(rng.randbytes(12)).decode() for i in range(size)]
    if len({c for c in codes if c}) != sum(1 for c in codes if c):
        raise RuntimeError("two generated invite codes collide; try another --seed")
    return Web(ids=ids, parent=parent, generation=generation, joined=joined,
               recruits=recruits, codes=codes,
               first_names=["" if f else rng.choice(FIRST_NAMES) for f in forgotten],
               opted_out=[rng.random() < OPT_OUT_SHARE for _ in range(size)],
               forgotten=forgotten, self_arrivals=self_arrivals)


USER_COLUMNS = ("id", "first_name", "last_name", "username", "language_code", "is_organizer",
                "volunteer_status", "trained", "blocked", "stopped", "created_at",
                "invite_code", "referred_by", "generation", "recruits", "leaderboard_opt_out",
                "nudges_sent", "forgotten")


def user_records(web: Web, stamp: Callable[[datetime], Any],
                 seed: int) -> Iterator[tuple[Any, ...]]:
    """The rows as the bot would have written them. nudges_sent = 3 for everyone: the nudge
    planner is measured apart (part 3), and migration 0002 counts existing people so too."""
    rng = random.Random(seed + 1)
    for i in range(len(web)):
        gone = web.forgotten[i]
        referrer = web.parent[i]
        yield (web.ids[i], web.first_names[i], None if gone else rng.choice(LAST_NAMES),
               None, None if gone else ("fr" if rng.random() < 0.9 else "en"), False, "none",
               False, False, gone, stamp(web.joined[i]), web.codes[i],
               web.ids[referrer] if referrer >= 0 else None, web.generation[i],
               web.recruits[i], web.opted_out[i], 3, gone)


def expected_stats(web: Web, campaign: Campaign, now: datetime) -> WebStats:
    """What web_stats should answer, counted in Python from the generator's lists."""
    tz = ZoneInfo(campaign.timezone)
    today = now.astimezone(tz).date()
    by_day: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for moment, gen in zip(web.joined, web.generation, strict=True):
        by_day[moment.astimezone(tz).date()][gen] += 1
    ranked = sorted((i for i in range(len(web)) if web.recruits[i] > 0
                     and not web.opted_out[i] and not web.forgotten[i]),
                    key=lambda i: (-web.recruits[i], web.ids[i]))
    return WebStats(
        supporters=len(web),
        today=sum(1 for moment in web.joined if moment.astimezone(tz).date() == today),
        recruited=sum(1 for p in web.parent if p >= 0),
        reached_goal=sum(1 for r in web.recruits if r >= GOAL),
        depth=max(web.generation),
        by_day_generation={d: dict(g) for d, g in sorted(by_day.items())},
        top=[(web.first_names[i], web.recruits[i]) for i in ranked[:LEADERBOARD_SIZE]])


def describe(web: Web) -> str:
    per_generation = Counter(web.generation)
    return (f"web: {len(web):,} supporters, {sum(1 for p in web.parent if p < 0)} came on their "
            f"own ({web.self_arrivals} added when branches stopped), depth "
            f"{max(web.generation)}, brought nobody "
            f"{sum(1 for r in web.recruits if r == 0) / len(web):.0%}, most recruits "
            f"{max(web.recruits)}, joined {web.joined[0]:%Y-%m-%d %H:%M} .. "
            f"{web.joined[-1]:%Y-%m-%d %H:%M} UTC\n  per generation: "
            + ", ".join(f"{g}: {per_generation[g]:,}" for g in sorted(per_generation)))


# ---- loading and checking ------------------------------------------------------------------

async def load_example_campaign(db: Database) -> Campaign:
    campaign, _ = await load_campaign(db, parse_campaign_file(CAMPAIGN_FILE))
    return campaign


def load_sqlite(path: Path, web: Web, seed: int) -> None:
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA synchronous=OFF")  # the load only; the bot uses NORMAL
        con.executemany(f"INSERT INTO users ({', '.join(USER_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(USER_COLUMNS))})",
                        user_records(web, lambda t: t.astimezone(UTC).strftime(SQLITE_TIME),
                                     seed))
    con.close()


async def load_postgres(database: str, web: Web, seed: int) -> None:
    con = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)
    try:
        await con.copy_records_to_table("users", records=user_records(web, lambda t: t, seed),
                                        columns=USER_COLUMNS)
        # What autovacuum would do soon after such a load; plans depend on it.
        await con.execute("VACUUM ANALYZE users")
    finally:
        await con.close()


# Each must count 0 in a consistent web.
INTEGRITY = {
    "recruits != people they brought": (
        "SELECT count(*) FROM users u LEFT JOIN (SELECT referred_by, count(*) AS n FROM users "
        "WHERE referred_by IS NOT NULL GROUP BY referred_by) c ON c.referred_by = u.id "
        "WHERE u.recruits <> coalesce(c.n, 0)"),
    "generation != referrer's + 1": (
        "SELECT count(*) FROM users u JOIN users r ON r.id = u.referred_by "
        "WHERE u.generation <> r.generation + 1"),
    "referrer missing": (
        "SELECT count(*) FROM users u WHERE u.referred_by IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM users r WHERE r.id = u.referred_by)"),
}


async def integrity_problems(db: Database) -> list[str]:
    problems = []
    async with db.read() as session:
        for what, sql in INTEGRITY.items():
            count = (await session.execute(text(sql))).scalar_one()
            if count:
                problems.append(f"{count:,} × {what}")
    return problems


def compare(got: WebStats, want: WebStats) -> list[str]:
    """The figures that differ, as 'name: got X, expected Y'."""
    fields = ("supporters", "today", "recruited", "reached_goal", "depth")
    wrong = [f"{name}: got {getattr(got, name)}, expected {getattr(want, name)}"
             for name in fields if getattr(got, name) != getattr(want, name)]
    if got.by_day_generation != want.by_day_generation:
        days = sorted(set(got.by_day_generation) | set(want.by_day_generation))
        bad = [d for d in days
               if got.by_day_generation.get(d) != want.by_day_generation.get(d)]
        wrong.append(f"joins per day and generation differ on {len(bad)} days, "
                     f"first {bad[0]}")
    if got.top != want.top:
        wrong.append(f"top: got {got.top}, expected {want.top}")
    return wrong


async def explain(db: Database, campaign: Campaign) -> None:
    """The query plans of web_stats's three statements (PostgreSQL: with actual times)."""
    queries = ((_TOTALS, {"day_start": local_day_start(campaign, NOW),
                          "day_end": local_day_start(campaign, NOW, 1), "goal": GOAL}),
               (_BY_HOUR, {}), (_TOP, {"size": LEADERBOARD_SIZE}))
    async with db.fast_read() as tx:
        for sql, params in queries:
            if db.is_sqlite:
                rows = await tx.all(SQL("EXPLAIN QUERY PLAN " + sql.sqlite, "", sql.names),
                                    **params)
                plan = " | ".join(str(row[-1]) for row in rows)
                print(f"  plan: {sql.sqlite[:70]}...\n    {plan}")
            else:
                rows = await tx.all(SQL("", "EXPLAIN (ANALYZE, BUFFERS) " + sql.postgres,
                                        sql.names), **params)
                print(f"  plan: {sql.postgres[:70]}...")
                for row in rows:
                    print("    " + str(row[0]))


# ---- part 1: web_stats ---------------------------------------------------------------------

@dataclass
class StatsResult:
    database: str
    load_s: float
    first_s: float
    times: list[float]
    mismatches: list[str]
    integrity: list[str]

    @property
    def median(self) -> float:
        return statistics.median(self.times)


async def time_stats(database: str, url: str, web: Web, campaign: Campaign, load_s: float,
                     repeats: int, show_plans: bool) -> StatsResult:
    db = Database(url)
    try:
        want = expected_stats(web, campaign, NOW)
        started = time.perf_counter()
        got = await web_stats(db, campaign, NOW)  # cold: the first connection is opened
        first = time.perf_counter() - started
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            again = await web_stats(db, campaign, NOW)
            times.append(time.perf_counter() - started)
            if again != got:
                raise RuntimeError("web_stats answered differently on the same data")
        if show_plans:
            await explain(db, campaign)
        return StatsResult(database, load_s, first, times, compare(got, want),
                           await integrity_problems(db))
    finally:
        await db.dispose()


# ---- part 2: joins at once -----------------------------------------------------------------

@dataclass
class JoinsResult:
    database: str
    way: str
    joins: int
    referrers: int
    busiest_code: int  # joins through the most shared code
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.joins / self.seconds


def pick_joins(web: Web, joins: int, codes: int, rng: random.Random) -> list[int]:
    """The referrer (web index) of each join: `codes` supporters' links, a few shared
    widely (weights 1/rank), so that many joins go through the same code at once."""
    with_code = [i for i in range(len(web)) if web.codes[i]]
    chosen = rng.sample(with_code, min(codes, len(with_code)))
    return rng.choices(chosen, [1 / (rank + 1) for rank in range(len(chosen))], k=joins)


async def run_joins(db: Database, web: Web, way: str, referrers: list[int],
                    newcomer_base: int, recruits_now: dict[int, int],
                    seed: int) -> tuple[float, list[str]]:
    """One burst of joins; returns its seconds and what went wrong. `recruits_now` (web
    index -> count) is the referrers' counts before, updated to after."""
    rng = random.Random(seed)
    people = [Profile(newcomer_base + n, rng.choice(FIRST_NAMES), language_code="fr")
              for n in range(len(referrers))]
    payloads = [web.codes[r] or "" for r in referrers]

    async def join(profile: Profile, payload: str) -> Any:
        arrival = await arrive(db, profile)
        return await attribute_referral(db, profile.id, payload) if arrival.is_new else None

    if way == "attribute":
        # The people exist already (made beforehand, not timed): attribution alone.
        await asyncio.gather(*(ensure_user(db, p) for p in people))
        burst = [attribute_referral(db, p.id, c) for p, c in zip(people, payloads, strict=True)]
    else:
        burst = [join(p, c) for p, c in zip(people, payloads, strict=True)]
    started = time.perf_counter()
    # Bounded: a lock-up must end the bench, not hang it.
    results = await asyncio.wait_for(asyncio.gather(*burst), timeout=300)
    seconds = time.perf_counter() - started

    problems = []
    lost = sum(1 for r in results if r is None)
    if lost:
        problems.append(f"{lost} joins not counted")
    # Each referrer's returned counts: before+1 .. before+n, each exactly once.
    returned: dict[int, list[int]] = defaultdict(list)
    for r in results:
        if r is not None:
            returned[r.referrer_id].append(r.recruits)
    per_referrer = Counter(referrers)
    for index, n in per_referrer.items():
        before = recruits_now[index]
        if sorted(returned.get(web.ids[index], [])) != list(range(before + 1, before + n + 1)):
            problems.append(f"referrer {web.ids[index]}: counts returned "
                            f"{sorted(returned.get(web.ids[index], []))[:5]}..., "
                            f"expected {before + 1}..{before + n}")
        recruits_now[index] = before + n
    # The database: each newcomer under the right referrer, one generation below; each
    # referrer's count = before + joins through their code.
    async with db.read() as session:
        rows = (await session.execute(text(
            "SELECT id, referred_by, generation FROM users WHERE id >= :lo AND id < :hi"),
            {"lo": newcomer_base, "hi": newcomer_base + len(referrers)})).all()
        counts = dict((await session.execute(text(
            "SELECT id, recruits FROM users WHERE id IN ("
            + ", ".join(str(web.ids[i]) for i in per_referrer) + ")"))).all())
    placed = {row[0]: (row[1], row[2]) for row in rows}
    misplaced = sum(1 for p, r in zip(people, referrers, strict=True)
                    if placed.get(p.id) != (web.ids[r], web.generation[r] + 1))
    if misplaced:
        problems.append(f"{misplaced} newcomers with the wrong referrer or generation")
    miscounted = sum(1 for i in per_referrer if counts.get(web.ids[i]) != recruits_now[i])
    if miscounted:
        problems.append(f"{miscounted} referrers with a wrong recruit count")
    problems += await integrity_problems(db)
    return seconds, problems


async def run_arrivals(db: Database, count: int, newcomer_base: int,
                       seed: int) -> tuple[float, list[str]]:
    """New people's first update without a link: the share of a join that is not
    attribution (creating the person's row)."""
    rng = random.Random(seed)
    people = [Profile(newcomer_base + n, rng.choice(FIRST_NAMES), language_code="fr")
              for n in range(count)]
    started = time.perf_counter()
    arrivals = await asyncio.wait_for(asyncio.gather(*(arrive(db, p) for p in people)),
                                      timeout=300)
    seconds = time.perf_counter() - started
    not_new = sum(1 for a in arrivals if not a.is_new)
    return seconds, [f"{not_new} arrivals not new"] if not_new else []


ARRIVE_ONLY = "arrive only (no link)"
WAYS = (ARRIVE_ONLY, "attribute", "arrive + attribute")


async def bench_joins(database: str, url: str, web: Web, joins: int, codes: int,
                      seed: int) -> list[JoinsResult]:
    rng = random.Random(seed + 2)
    referrers = pick_joins(web, joins, codes, rng)
    busiest = max(Counter(referrers).values())
    recruits_now = {i: web.recruits[i] for i in set(referrers)}
    results = []
    db = Database(url)
    try:
        for n, way in enumerate(WAYS):
            base = NEWCOMER_BASE + n * 1_000_000
            if way == ARRIVE_ONLY:
                seconds, problems = await run_arrivals(db, joins, base, seed + 3 + n)
            else:
                # The same codes each time: the later burst piles onto the same rows.
                rng.shuffle(referrers)
                seconds, problems = await run_joins(db, web, way, referrers, base,
                                                    recruits_now, seed + 3 + n)
            results.append(JoinsResult(database, way, joins, len(set(referrers)), busiest,
                                       seconds, problems))
    finally:
        await db.dispose()
    return results


# ---- parts 1 and 2, per database -----------------------------------------------------------

async def bench_database(database: str, web: Web, args: argparse.Namespace,
                         parts: set[str]) -> tuple[StatsResult | None, list[JoinsResult]]:
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-web-"))
    try:
        if database == "sqlite":
            url = sqlite_url(workdir / "toile.db")
        else:
            url = postgres_url(PG_DATABASE)
            await recreate_pg_database(PG_DATABASE)
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        try:
            campaign = await load_example_campaign(db)
        finally:
            await db.dispose()
        started = time.perf_counter()
        if database == "sqlite":
            await asyncio.to_thread(load_sqlite, workdir / "toile.db", web, args.seed)
        else:
            await load_postgres(PG_DATABASE, web, args.seed)
        load_s = time.perf_counter() - started
        print(f"{database}: {len(web):,} supporters loaded in {load_s:.1f} s")
        stats = None
        if "stats" in parts:
            stats = await time_stats(database, url, web, campaign, load_s, args.repeats,
                                     args.explain)
        joins = []
        if "joins" in parts:
            joins = await bench_joins(database, url, web, args.joins, args.codes, args.seed)
        return stats, joins
    finally:
        if database == "postgres":
            await drop_pg_database(PG_DATABASE)
        shutil.rmtree(workdir, ignore_errors=True)


# ---- part 3: nudge pacing ------------------------------------------------------------------


@dataclass
class PaceResult:
    nudges: int
    planned: int
    rate: float
    arrivals: list[float]  # sendMessage arrival times at the fake server (monotonic)
    starts: list[float]  # when the pacer let each send start, in the bot (monotonic)
    plan_s: float
    problems: list[str]

    @property
    def achieved(self) -> float:
        span = self.arrivals[-1] - self.arrivals[0] if len(self.arrivals) > 1 else 0.0
        return (len(self.arrivals) - 1) / span if span else 0.0

    @property
    def busiest_second(self) -> int:
        return busiest_second(self.arrivals)


def busiest_second(moments: Sequence[float]) -> int:
    """The most of these sorted moments in any one-second window [t, t + 1)."""
    best, first = 0, 0
    for last, moment in enumerate(moments):
        while moments[first] <= moment - 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


async def bench_nudges(nudges: int, rate: float, seed: int) -> PaceResult:
    rng = random.Random(seed + 4)
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-web-nudges-"))
    fake = FakeTelegram()
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    now = JOINED
    real_utcnow = storage.clock.utcnow
    # The storage clock is frozen as tests/conftest.py's FrozenClock does: the supporters
    # join at 10:00, and the nudges go the next morning, inside messaging hours.
    storage.clock.utcnow = lambda: now
    db: Database | None = None
    starts: list[float] = []
    try:
        await fake.start()
        url = sqlite_url(workdir / "toile.db")
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        campaign = await load_example_campaign(db)
        ids = [NUDGED_BASE + n for n in range(nudges)]
        for uid in ids:
            await ensure_user(db, Profile(uid, rng.choice(FIRST_NAMES),
                                          language_code=rng.choice(("fr", "en"))))
        now = JOINED + timedelta(days=1)
        started = time.perf_counter()
        planned = await plan_nudges(db, campaign)
        plan_s = time.perf_counter() - started

        # As bot/app.py builds them for `toile run`, pointed at the fake server.
        settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url,
                            database_url=url, redis_url=None, send_rate=rate,
                            _env_file=None)  # type: ignore[call-arg]
        bot = build_bot(settings, timeout=10)
        try:
            dp = build_dispatcher(settings, db)
            deliverer = build_deliverer(dp, bot, settings)
            # When the pacer lets each send start: tells the pacer's spacing apart from
            # what happens between the start and the arrival at the server.
            pacer_slot = deliverer.pacer.slot

            async def recorded_slot(chat_id: int) -> None:
                await pacer_slot(chat_id)
                starts.append(time.monotonic())

            deliverer.pacer.slot = recorded_slot  # type: ignore[method-assign]
            running = asyncio.create_task(deliverer.run())
            # Bounded: twice the planned time, plus some slack.
            deadline = time.perf_counter() + planned / rate * 2 + 30
            try:
                while time.perf_counter() < deadline:
                    done = await outbox.counts(db, outbox.NoticeKind.NUDGE)
                    if done.get("sent", 0) + done.get("failed", 0) + done.get(
                            "skipped", 0) >= planned:
                        break
                    await asyncio.sleep(0.25)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        finally:
            await bot.session.close()
        statuses = await outbox.counts(db, outbox.NoticeKind.NUDGE)
    finally:
        storage.clock.utcnow = real_utcnow
        if db is not None:
            await db.dispose()
        await fake.stop()
        logging.getLogger().removeHandler(errors)
        shutil.rmtree(workdir, ignore_errors=True)

    sends = fake.sent("sendMessage")
    problems = []
    if planned != nudges:
        problems.append(f"planned {planned} nudges for {nudges} supporters")
    if statuses != {"sent": planned}:
        problems.append(f"outbox statuses {statuses}")
    per_chat = Counter(int(call.params["chat_id"]) for call in sends)
    if sorted(per_chat) != ids or set(per_chat.values()) != {1}:
        problems.append(f"{len(sends)} sendMessage to {len(per_chat)} chats "
                        f"(expected one each to {nudges})")
    problems += [f"logged: {m}" for m in errors.messages[:3]]
    return PaceResult(nudges, planned, rate, sorted(call.at for call in sends), starts,
                      plan_s, problems)


# ---- the report ------------------------------------------------------------------------------

def report(stats: Sequence[StatsResult], joins: Sequence[JoinsResult],
           pace: PaceResult | None) -> None:
    if stats:
        print(f"\nweb_stats: first call (a connection opened) then the repeats; "
              f"target: median <= {STATS_TARGET_S:g} s")
        print(table(("database", "load s", "first s", "min s", "median s", "max s",
                     "figures", "web"), [
            (s.database, f"{s.load_s:.1f}", f"{s.first_s:.3f}", f"{min(s.times):.3f}",
             f"{s.median:.3f}", f"{max(s.times):.3f}",
             "MISMATCH" if s.mismatches else "OK",
             "INCONSISTENT" if s.integrity else "consistent") for s in stats]))
        for s in stats:
            for line in [*s.mismatches, *s.integrity]:
                print(f"  {s.database}: {line}")
    if joins:
        print(f"\njoins at once: target >= {JOINS_TARGET:,.0f} joins/s; each must count "
              "exactly once")
        print(table(("database", "way", "joins", "codes", "through busiest code", "seconds",
                     "joins/s", "counted once"), [
            (j.database, j.way, f"{j.joins:,}", "-" if j.way == ARRIVE_ONLY else j.referrers,
             "-" if j.way == ARRIVE_ONLY else j.busiest_code,
             f"{j.seconds:.2f}", f"{j.rate:,.0f}", "FAIL" if j.problems else "OK")
            for j in joins]))
        for j in joins:
            for line in j.problems[:5]:
                print(f"  {j.database}/{j.way}: {line}")
    if pace:
        span = pace.arrivals[-1] - pace.arrivals[0] if len(pace.arrivals) > 1 else 0.0
        print(f"\nnudge pacing (SQLite, deliverer -> fake Bot API): {pace.planned:,} planned "
              f"in {pace.plan_s:.2f} s, {len(pace.arrivals):,} arrived over {span:.1f} s")
        print("busiest 1 s window: the most sendMessage arriving at the server in any one "
              "second; of starts: the most sends the pacer let start in one second")
        print(table(("configured/s", "achieved/s", "achieved %", "busiest 1 s window",
                     "of starts", "delivered once"), [
            (f"{pace.rate:g}", f"{pace.achieved:.2f}", f"{pace.achieved / pace.rate:.1%}",
             pace.busiest_second, busiest_second(sorted(pace.starts)),
             "FAIL" if pace.problems else "OK")]))
        for line in pace.problems:
            print(f"  nudges: {line}")

    print()
    for s in stats:
        print(f"{s.database}: web_stats median {s.median:.3f} s (target <= "
              f"{STATS_TARGET_S:g} s) {verdict(s.median <= STATS_TARGET_S)}; figures "
              f"{verdict(not s.mismatches and not s.integrity)}")
    for j in joins:
        if j.way == ARRIVE_ONLY:  # no target: it says how much of a join is the new row
            print(f"{j.database}: {j.way}: {j.rate:,.0f} arrivals/s (no target); all new "
                  f"{verdict(not j.problems)}")
            continue
        print(f"{j.database}: {j.way}: {j.rate:,.0f} joins/s (target >= {JOINS_TARGET:,.0f}) "
              f"{verdict(j.rate >= JOINS_TARGET)}; counted once {verdict(not j.problems)}")
    if pace:
        print(f"nudges: achieved {pace.achieved / pace.rate:.1%} of {pace.rate:g}/s (target >= "
              f"{PACE_TARGET:.0%}) {verdict(pace.achieved >= PACE_TARGET * pace.rate)}; "
              f"busiest second {pace.busiest_second} (target <= {pace.rate:g}) "
              f"{verdict(pace.busiest_second <= pace.rate)}; delivered once "
              f"{verdict(not pace.problems)}")


async def main_async(args: argparse.Namespace) -> None:
    parts = set(args.parts.split(","))
    unknown = parts - {"stats", "joins", "nudges"}
    if unknown:
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))}")
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    stats: list[StatsResult] = []
    joins: list[JoinsResult] = []
    # Nudges first: their pace is measured in a process not yet holding a 200,000-person
    # web and two databases' worth of pools and threads.
    pace = await bench_nudges(args.nudges, args.rate, args.seed) if "nudges" in parts else None
    if parts & {"stats", "joins"}:
        started = time.perf_counter()
        web = generate_web(args.supporters, args.generations, args.roots, args.days, args.seed)
        print(describe(web))
        print(f"  generated in {time.perf_counter() - started:.1f} s")
        for database in databases:
            result, bursts = await bench_database(database, web, args, parts)
            stats += [result] if result else []
            joins += bursts
    report(stats, joins, pace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both",
                        help="for stats and joins (nudges run on SQLite)")
    parser.add_argument("--parts", default="stats,joins,nudges",
                        help="comma-separated: stats, joins, nudges")
    parser.add_argument("--supporters", type=int, default=200_000)
    parser.add_argument("--generations", type=int, default=12, help="the deepest generation")
    parser.add_argument("--roots", type=int, default=12, help="founders who came on their own")
    parser.add_argument("--days", type=float, default=20.0, help="how long the web grew")
    parser.add_argument("--repeats", type=int, default=7, help="timed web_stats calls")
    parser.add_argument("--joins", type=int, default=1000, help="newcomers joining at once")
    parser.add_argument("--codes", type=int, default=100,
                        help="distinct invite codes they join through")
    parser.add_argument("--nudges", type=int, default=750)
    parser.add_argument("--rate", type=float, default=25.0, help="the deliverer's SEND_RATE")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--explain", action="store_true",
                        help="print web_stats's query plans (PostgreSQL: EXPLAIN ANALYZE)")
    args = parser.parse_args()
    if args.supporters < 1 or args.joins < 1 or args.nudges < 2 or args.repeats < 1:
        parser.error("--supporters, --joins, --repeats must be >= 1 and --nudges >= 2")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

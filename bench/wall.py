"""Benchmark: does a room full of wall screens slow the bot down?

    .venv/bin/python bench/wall.py [--screens 50] [--volunteers 50] [--rounds 10]
        [--seconds 6] [--warmup 1.5] [--contacts 30000] [--calls-today 200000]

One Toile process serves both, as `toile run` does: the bot (long polling against the fake
Bot API on loopback) and the wall's web server. Volunteers loop /call -> outcome as in
bench/updates.py. The run alternates, round by round, between no screen and --screens
screens holding the wall's event stream open (the figures computed every tick of 2 s and
sent to each), so that both conditions meet the same database size and machine noise. It
prints the round trips per second of each condition and their ratio (target: with screens
>= 95 % of without), and checks that every screen received figures.
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
import socket
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection

import aiohttp

import storage.clock
from bench._common import CAMPAIGN_FILE, ErrorCount, percentile, table, verdict
from bench.updates import (
    CARD_LIMIT,
    FROZEN_NOW,
    POLLING_TIMEOUT,
    VOLUNTEER_BASE,
    InProcess,
    Tally,
    WatchedTelegram,
    Window,
    build_toile,
    prepare_database,
    receive,
    volunteer_loop,
)
from bot.config import Settings
from bot.wall.hub import Hub
from bot.wall.server import start_web
from storage.campaigns import load_campaign, parse_campaign_file
from storage.database import Database
from storage.driver import sqlite_value
from storage.users import sync_organizers
from storage.wall.tokens import wall_token
from tests.conversation import ORGANIZER_ID

TARGET_RATIO = 0.95
# The example's rounds are in 2024; the bench's clock stands in June 2026.
ROUNDS = [{"name": "Premier tour", "date": "2026-06-14"},
          {"name": "Second tour", "date": "2026-06-21"}]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- the Toile process: the bot and the wall -----------------------------------------------

def serve(api_url: str, database_url: str, port: int, conn: Connection) -> None:
    asyncio.run(_serve(api_url, database_url, port, conn))


async def _serve(api_url: str, database_url: str, port: int, conn: Connection) -> None:
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    storage.clock.utcnow = lambda: FROZEN_NOW  # this process has its own clock
    bot, dp, db = build_toile(api_url, database_url, 10.0, 30.0)
    settings = Settings(bot_token="42:TEST", web_host="127.0.0.1", web_port=port,
                        _env_file=None)  # type: ignore[call-arg]
    hub = Hub(db)
    wall = await start_web(settings, db, dp["i18n"], hub=hub)
    runner = InProcess(bot, dp)
    cpu_start = time.process_time()
    await runner.start()
    conn.send("ready")
    while await receive(conn) == "cpu":  # then "stop"
        conn.send(time.process_time())
    await runner.stop()
    await wall.cleanup()
    cpu = time.process_time() - cpu_start
    await bot.session.close()
    await db.dispose()
    conn.send((errors.messages, cpu, hub.computations, hub.computing_seconds))


# ---- the screens ---------------------------------------------------------------------------

@dataclass
class Screens:
    """`count` browsers holding the wall's stream open, counting the figures they get."""

    url: str
    count: int

    def __post_init__(self) -> None:
        self.received = [0] * self.count
        self.tasks: list[asyncio.Task[None]] = []
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        self.tasks = [asyncio.create_task(self._watch(i)) for i in range(self.count)]

    async def _watch(self, i: int) -> None:
        assert self.session is not None
        async with self.session.get(self.url) as response:
            if response.status != 200:
                raise RuntimeError(f"screen {i}: HTTP {response.status}")
            async for line in response.content:
                if line.startswith(b"event: figures"):
                    self.received[i] += 1

    async def close(self) -> list[BaseException]:
        for task in self.tasks:
            task.cancel()
        results = await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
        return [r for r in results if isinstance(r, BaseException)
                and not isinstance(r, asyncio.CancelledError)]


# ---- the run --------------------------------------------------------------------------------

@dataclass
class Round:
    screens: int
    updates: int
    seconds: float
    latency_ms: list[float]
    timeouts: int
    surprises: list[str]
    bot_cpu: float = 0.0  # the Toile process's CPU seconds over the round, warm-up included
    wall_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def measure(fake: WatchedTelegram, volunteers: list[int], rngs: dict[int, random.Random],
                  done: dict[int, int], screens: int, args: argparse.Namespace) -> Round:
    start = time.perf_counter() + args.warmup
    window = Window(start, start + args.seconds, args.timeout)
    tally = Tally()
    # The bot congratulates at a volunteer's 10th, 50th... call of all, the rounds before
    # included: each loop knows where its volunteer stands, and reads its congratulation.
    recorded = await asyncio.gather(*(volunteer_loop(fake, v, window, tally, rngs[v],
                                                     before=done[v]) for v in volunteers))
    for v, n in zip(volunteers, recorded, strict=True):
        done[v] += n
    handled = sum(1 for t in tally.done_at if window.start <= t <= window.end)
    return Round(screens, handled, window.seconds, sorted(tally.latency_ms), tally.timeouts,
                 tally.surprises)


async def prepare(workdir: Path, args: argparse.Namespace,
                  volunteers: list[int]) -> tuple[str, str]:
    """The database of bench/updates.py, its campaign's rounds to come; the wall's token."""
    storage.clock.utcnow = lambda: FROZEN_NOW
    db: Database = await prepare_database(workdir / "toile.db", args.contacts, volunteers)
    try:
        await sync_organizers(db, [ORGANIZER_ID])
        fields = parse_campaign_file(CAMPAIGN_FILE)
        fields.update(card_limit_per_hour=CARD_LIMIT, rounds=ROUNDS)
        campaign, _ = await load_campaign(db, fields)
        token = await wall_token(db, campaign, actor_id=ORGANIZER_ID)
        url = db.url.render_as_string(hide_password=False)
    finally:
        await db.dispose()
    if args.calls_today:
        await asyncio.to_thread(busy_day, workdir / "toile.db", campaign.id or 0,
                                args.calls_today)
    return url, token


CALLERS = 600  # a busy day's callers, besides the bench's volunteers


def busy_day(path: Path, campaign_id: int, calls: int) -> None:
    """`calls` calls made since this morning by CALLERS others, in the three rooms and
    remote, as the phone bank writes them: what the wall counts at every tick."""
    rng = random.Random(5)
    callers = range(300_000, 300_000 + CALLERS)
    morning = FROZEN_NOW - timedelta(hours=1)  # 09:00 in Paris
    with sqlite3.connect(path) as con:
        contact = con.execute("SELECT min(id) FROM contact").fetchone()[0]
        con.executemany(
            "INSERT INTO users (id, first_name, language_code, is_organizer, volunteer_status, "
            "trained, blocked, stopped, generation, recruits, leaderboard_opt_out, nudges_sent, "
            "forgotten, organizer_by_config, organizer_by_cli, created_at) VALUES "
            "(?, ?, 'fr', 0, 'approved', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?)",
            [(c, f"Appelant {c}", sqlite_value(morning)) for c in callers])
        con.executemany(
            "INSERT INTO call (contact_id, campaign_id, volunteer_id, lease_seq, outcome, "
            "created_at, room) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(contact, campaign_id, rng.choice(callers), -1 - i,
              rng.choice(("no_answer", "voicemail", "will_vote", "undecided")),
              sqlite_value(morning + timedelta(seconds=3600 * i / calls)),
              rng.choice(("Saint-Denis", "Lyon", "Marseille", None))) for i in range(calls)])
        con.execute("ANALYZE")
    con.close()


async def main_async(args: argparse.Namespace) -> None:
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-wall-"))
    fake = WatchedTelegram()
    fake.record = False
    real_utcnow = storage.clock.utcnow
    rounds: list[Round] = []
    screen_errors: list[BaseException] = []
    received: list[int] = []
    try:
        await fake.start()
        volunteers = [VOLUNTEER_BASE + i for i in range(args.volunteers)]
        database_url, token = await prepare(workdir, args, volunteers)
        port = free_port()
        context = multiprocessing.get_context("spawn")
        conn, child = context.Pipe()
        process = context.Process(target=serve, args=(fake.url, database_url, port, child),
                                  name="bench-toile-wall")
        process.start()
        if await receive(conn) != "ready":
            raise RuntimeError("the Toile process did not start")
        print(f"{args.contacts:,} contacts, {args.calls_today:,} calls earlier today by "
              f"{CALLERS} others, {args.volunteers} volunteers; the bot and the wall "
              f"in one process (wall on 127.0.0.1:{port}); {args.rounds} rounds of "
              f"{args.warmup:g} s warm-up + {args.seconds:g} s measured, alternating "
              f"no screen / {args.screens} screens")
        rngs = {v: random.Random(v) for v in volunteers}
        done = dict.fromkeys(volunteers, 0)
        url = f"http://127.0.0.1:{port}/wall/{token}/events"
        for i in range(args.rounds):
            with_screens = i % 2 == 1
            screens = Screens(url, args.screens if with_screens else 0)
            conn.send("cpu")
            cpu, started = await receive(conn), time.perf_counter()
            await screens.open()
            rounds.append(await measure(fake, volunteers, rngs, done, screens.count, args))
            conn.send("cpu")
            rounds[-1].bot_cpu = await receive(conn) - cpu
            rounds[-1].wall_seconds = time.perf_counter() - started
            received.extend(screens.received)
            screen_errors.extend(await screens.close())
            print(f"  round {i + 1}: {screens.count:>3} screens, {rounds[-1].rate:,.1f} "
                  f"round trips/s")
        conn.send("stop")
        bot_errors, _cpu, computations, computing = await receive(conn)
        print(f"  the wall's figures: computed {computations} times, "
              f"{1000 * computing / max(1, computations):.1f} ms each on average")
        await asyncio.to_thread(process.join, 30)
        await asyncio.sleep(POLLING_TIMEOUT)
    finally:
        storage.clock.utcnow = real_utcnow
        await fake.stop()
        logging.getLogger().removeHandler(errors)
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, rounds, received, screen_errors, [*errors.messages, *bot_errors])


def report(args: argparse.Namespace, rounds: list[Round], received: list[int],
           screen_errors: list[BaseException], bot_errors: list[str]) -> None:
    print()
    rows = []
    rates = {}
    for count in (0, args.screens):
        mine = [r for r in rounds if r.screens == count]
        latency = sorted(ms for r in mine for ms in r.latency_ms)
        rates[count] = sum(r.updates for r in mine) / sum(r.seconds for r in mine)
        rows.append((f"{count} screens", f"{sum(r.updates for r in mine):,}",
                     f"{rates[count]:,.1f}",
                     " / ".join(f"{r.rate:,.0f}" for r in mine),
                     f"{percentile(latency, 50):.1f}", f"{percentile(latency, 99):.1f}",
                     f"{sum(r.bot_cpu for r in mine) / sum(r.wall_seconds for r in mine):.0%}",
                     sum(r.timeouts for r in mine), sum(len(r.surprises) for r in mine)))
    print(table(("condition", "round trips", "per s", "per round", "p50 ms", "p99 ms",
                 "bot CPU", "timeouts", "surprises"), rows))
    fed = sum(1 for n in received if n > 0)
    print(f"\nscreens that received figures: {fed} of {len(received)} "
          f"(median {statistics.median(received) if received else 0:g} updates each) "
          f"{verdict(fed == len(received) and not screen_errors)}; errors logged by the bot "
          f"{len(bot_errors)} {verdict(not bot_errors)}")
    surprising = [s for r in rounds for s in r.surprises]
    for problem in [*map(repr, screen_errors), *bot_errors, *surprising][:5]:
        print("  e.g.", problem)
    cpu = {count: sum(r.bot_cpu for r in rounds if r.screens == count)
           / max(1, sum(r.updates for r in rounds if r.screens == count)) * 1000
           for count in (0, args.screens)}
    print(f"the Toile process's CPU per round trip: {cpu[0]:.2f} ms without screens, "
          f"{cpu[args.screens]:.2f} ms with {args.screens} (the machine's other work moves "
          "the rates more than this)")
    # Each round with screens against the two without around it: drifts cancel out.
    paired = [r.rate / statistics.mean(n.rate for n in rounds[max(0, i - 1):i + 2:2])
              for i, r in enumerate(rounds) if r.screens]
    print("each round with screens / the rounds without around it: "
          + ", ".join(f"{p:.0%}" for p in paired) + f" (median {statistics.median(paired):.1%})")
    surprises = any(r.surprises for r in rounds)
    ratio = rates[args.screens] / rates[0]
    print(f"with {args.screens} screens / without = {ratio:.1%} (target >= {TARGET_RATIO:.0%}) "
          f"{verdict(ratio >= TARGET_RATIO and not surprises)}"
          + (" (surprises: raise --contacts if the queue ran dry)" if surprises else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=50)
    parser.add_argument("--volunteers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10,
                        help="alternating: without screens first, then with (even: fair)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured, per round")
    parser.add_argument("--warmup", type=float, default=1.5,
                        help="unmeasured, per round (the screens connect meanwhile)")
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument("--calls-today", type=int, default=200_000,
                        help="calls made earlier today by others, which the wall counts "
                             "(a busy day: 200,000)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="how long a person waits for an answer before giving up")
    args = parser.parse_args()
    if args.rounds < 2 or args.rounds % 2:
        parser.error("--rounds must be even and at least 2")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

"""Benchmark: the whole bot (aiogram polling -> handlers -> storage -> Bot API) against a bare
aiogram echo bot, both fed by the same fake Bot API server on loopback.

    .venv/bin/python bench/updates.py [--volunteers 50] [--seconds 15] [--warmup 3]
        [--contacts 30000] [--campaign-ttl 30] [--in-process]

Phase 1, Toile: --volunteers approved, trained volunteers loop /call -> (the card arrives) ->
press an outcome button taken from that card -> (the card is edited to "recorded").
Phase 2, echo: as many people loop "send a message" -> (the echo arrives).
Each round trip is one update fully handled; the rate counts those completed inside the
measured window (after the warm-up).

Each bot runs in a process of its own, the fake server and the people in this one: as in
production, where the Bot API is never on the bot's CPU. Both bots get the same arrangement.
`--in-process` runs them next to the fake server instead, in this process.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import cProfile
import io
import itertools
import logging
import multiprocessing
import pstats
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any, Protocol

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

import storage.clock
from bench._common import (
    CAMPAIGN_FILE,
    ErrorCount,
    percentile,
    sqlite_url,
    table,
    verdict,
    write_contacts_csv,
)
from bot.app import build_bot, build_dispatcher, settle_heap
from bot.config import Settings
from storage.campaign_cache import CampaignCache
from storage.campaigns import load_campaign, parse_campaign_file
from storage.contacts import import_contacts
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Outcome
from storage.stats import MILESTONES
from storage.users import decide_volunteer, mark_trained, sync_organizers
from tests.conversation import ORGANIZER_ID
from tests.fake_telegram import BOT_USER, FakeTelegram, ShownMessage

TARGET_RATIO = 0.40
# Wednesday 10 June 2026, 10:00 in Paris: inside the example campaign's calling hours.
FROZEN_NOW = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
POLLING_TIMEOUT = 1  # short, so a stopped bot's last long poll ends quickly
VOLUNTEER_BASE = 100_000
ECHO_BASE = 500_000
CARD_LIMIT = 1_000_000  # cards a volunteer may go through in an hour (see prepare_database)
# Outcomes pressed straight from the card (CALL_BACK opens a sub-menu instead).
PRESSED = (Outcome.WILL_VOTE, Outcome.UNDECIDED, Outcome.NOT_INTERESTED, Outcome.NO_ANSWER,
           Outcome.VOICEMAIL)

_update_ids = itertools.count(1)
_message_ids = itertools.count(10_000_000)


class WatchedTelegram(FakeTelegram):
    """The fake server, also telling whoever watches a chat what it shows next: people react
    to what they see without polling the fake's state."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.shown: dict[int, asyncio.Queue[ShownMessage]] = {}

    def watch(self, chat_id: int) -> asyncio.Queue[ShownMessage]:
        """Each message sent or edited in this chat, in order. A queue rather than a single
        waiter: a message the bot sends right after another (a volunteer's congratulation
        after the recorded card) must not be lost before the person looks again."""
        return self.shown.setdefault(chat_id, asyncio.Queue())

    def _notify(self, chat_id: int, message_id: int) -> None:
        shown = self.chats[chat_id].get(message_id)
        if shown is not None:
            self.watch(chat_id).put_nowait(shown)

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super().api_sendMessage(params)
        self._notify(int(params["chat_id"]), result["message_id"])
        return result

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super().api_editMessageText(params)
        self._notify(int(params["chat_id"]), int(params["message_id"]))
        return result



# ---- what people send ---------------------------------------------------------------------

def _person(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"Bénévole {user_id}",
            "language_code": "fr"}


def text_update(user_id: int, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(_message_ids), "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": f"Bénévole {user_id}"},
        "from": _person(user_id), "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": next(_update_ids), "message": message}


def press_update(user_id: int, shown: ShownMessage, data: str) -> dict[str, Any]:
    """A tap on an inline button of `shown`, as Telegram delivers it."""
    message: dict[str, Any] = {
        "message_id": shown.message_id, "date": int(time.time()),
        "chat": {"id": shown.chat_id, "type": "private"}, "from": BOT_USER, "text": shown.text,
    }
    if shown.reply_markup and "inline_keyboard" in shown.reply_markup:
        message["reply_markup"] = shown.reply_markup
    return {"update_id": next(_update_ids), "callback_query": {
        "id": str(next(_update_ids)), "from": _person(user_id), "chat_instance": "bench",
        "data": data, "message": message}}


# ---- the measured phase -------------------------------------------------------------------

@dataclass
class Tally:
    done_at: list[float] = field(default_factory=list)  # when each update was fully handled
    latency_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    surprises: list[str] = field(default_factory=list)  # the bot said something unexpected


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    timeout: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


async def next_shown(fake: WatchedTelegram, chat_id: int, window: Window,
                     tally: Tally) -> ShownMessage | None:
    """What the chat shows next, or None (a timeout) if nothing comes in time."""
    try:
        return await asyncio.wait_for(fake.watch(chat_id).get(), window.timeout)
    except TimeoutError:
        tally.timeouts += 1
        return None


async def round_trip(fake: WatchedTelegram, chat_id: int, update: dict[str, Any],
                     window: Window, tally: Tally) -> ShownMessage | None:
    """Send one update and wait for what the person sees next."""
    assert fake.updates is not None
    sent_at = time.perf_counter()
    await fake.updates.put(update)
    shown = await next_shown(fake, chat_id, window, tally)
    if shown is None:
        return None
    done = time.perf_counter()
    tally.done_at.append(done)
    if window.start <= done <= window.end:
        tally.latency_ms.append((done - sent_at) * 1000)
    return shown


async def volunteer_loop(fake: WatchedTelegram, user_id: int, window: Window, tally: Tally,
                         rng: random.Random, milestones: Collection[int] = MILESTONES,
                         before: int = 0) -> int:
    """/call, then press an outcome on the card that came back. Returns outcomes recorded.
    At each of `milestones` calls (`before` this loop's first included) the bot also sends
    a congratulation, which is read."""
    recorded = 0
    while time.perf_counter() < window.end:
        card = await round_trip(fake, user_id, text_update(user_id, "/call"), window, tally)
        if card is None:
            continue
        outcome = rng.choice(PRESSED)
        data = next((b["callback_data"] for b in card.buttons()
                     if b.get("callback_data", "").startswith("o:")
                     and b["callback_data"].endswith(":" + outcome.value)), None)
        if data is None:
            tally.surprises.append(f"no card after /call: {card.text[:60]!r}")
            return recorded  # e.g. the queue ran dry: this volunteer stops
        after = await round_trip(fake, user_id, press_update(user_id, card, data), window, tally)
        if after is None:
            continue
        if after.message_id != card.message_id or "call:next" not in str(after.reply_markup):
            tally.surprises.append(f"unexpected answer to {outcome}: {after.text[:60]!r}")
        recorded += 1
        if before + recorded in milestones:  # the bot congratulates, right after the edit
            note = await next_shown(fake, user_id, window, tally)
            if note is not None and str(before + recorded) not in note.text:
                tally.surprises.append(f"no congratulation at {before + recorded}: "
                                       f"{note.text[:60]!r}")
        fake.chats[user_id].clear()  # as a person clears the chat: memory stays flat
    return recorded


async def echo_loop(fake: WatchedTelegram, user_id: int, window: Window, tally: Tally) -> int:
    sent = 0
    while time.perf_counter() < window.end:
        text = f"bonjour {sent}"
        shown = await round_trip(fake, user_id, text_update(user_id, text), window, tally)
        if shown is not None and shown.text != text:
            tally.surprises.append(f"echo said {shown.text[:60]!r} to {text!r}")
        sent += 1
        fake.chats[user_id].clear()
    return sent


# ---- the bot under measure -----------------------------------------------------------------

@dataclass(frozen=True)
class BotReport:
    errors: list[str]  # what the bot logged at ERROR level
    cpu_seconds: float | None  # the bot's process, from start to stop (None: in this process)


class BotRunner(Protocol):
    async def start(self) -> None:
        """Returns once the bot polls (or is about to)."""

    async def stop(self) -> BotReport: ...


class InProcess:
    """The bot polls on this process's event loop, next to the fake server."""

    def __init__(self, bot: Bot, dp: Dispatcher) -> None:
        self.bot, self.dp = bot, dp
        self.polling: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.polling = asyncio.create_task(self.dp.start_polling(
            self.bot, handle_signals=False, polling_timeout=POLLING_TIMEOUT))

    async def stop(self) -> BotReport:
        await self.dp.stop_polling()
        if self.polling is not None:
            await self.polling
        return BotReport([], None)  # errors go to this process's own ErrorCount


@dataclass(frozen=True)
class BotSpec:
    """What a bot process needs to build its bot (picklable: it crosses to a new process)."""

    kind: str  # "toile" | "echo"
    api_url: str
    timeout: float
    database_url: str = ""
    campaign_ttl: float = 30.0
    profile_sort: str | None = None  # print a cProfile of the bot process


async def receive(conn: Connection) -> Any:
    """The next message on a pipe, without blocking the event loop (EOFError if the other
    process died)."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: readable.done() or readable.set_result(None))
    try:
        await readable
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv()


class ChildProcess:
    """The bot polls in a process of its own, started fresh (spawn) for the phase."""

    def __init__(self, spec: BotSpec) -> None:
        self.spec = spec
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=serve_bot, args=(spec, child_conn),
                                       name=f"bench-{spec.kind}")

    async def start(self) -> None:
        self.process.start()
        if await receive(self.conn) != "ready":
            raise RuntimeError("the bot process did not start")

    async def stop(self) -> BotReport:
        self.conn.send("stop")
        report: BotReport = await receive(self.conn)
        await asyncio.to_thread(self.process.join, 30)
        return report


def serve_bot(spec: BotSpec, conn: Connection) -> None:
    """The bot process: poll until told to stop, then report."""
    asyncio.run(_serve_bot(spec, conn))


async def _serve_bot(spec: BotSpec, conn: Connection) -> None:
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    db: Database | None = None
    if spec.kind == "toile":
        storage.clock.utcnow = lambda: FROZEN_NOW  # this process has its own clock
        bot, dp, db = build_toile(spec.api_url, spec.database_url, spec.timeout,
                                  spec.campaign_ttl)
    else:
        bot, dp = build_echo(spec.api_url, spec.timeout)
        # Spawned, this process imported Toile's modules too, which a bare echo bot would
        # not have: frozen, walking them does not slow the reference down.
        settle_heap()
    profiler = cProfile.Profile() if spec.profile_sort else None
    runner = InProcess(bot, dp)
    cpu_start = time.process_time()
    if profiler:
        profiler.enable()
    await runner.start()
    conn.send("ready")
    await receive(conn)  # "stop"
    await runner.stop()
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu_start
    await bot.session.close()
    if db is not None:
        await db.dispose()
    if profiler:
        pstats.Stats(profiler).sort_stats(spec.profile_sort or "tottime").print_stats(45)
        sys.stdout.flush()
    conn.send(BotReport(errors.messages, cpu))


@dataclass(frozen=True)
class PhaseResult:
    name: str
    updates: int  # fully handled inside the window
    seconds: float
    latency_ms: list[float]
    timeouts: int
    surprises: list[str]
    people_results: list[int]
    bot: BotReport
    phase_seconds: float = 0.0  # the whole phase, start to stop
    driver_cpu_seconds: float = 0.0  # this process (fake server and people) meanwhile
    handled_in_phase: int = 0  # warm-up and the window's stragglers included

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def run_phase(name: str, fake: WatchedTelegram, runner: BotRunner,
                    people: Callable[[Window, Tally], list[Awaitable[int]]], warmup: float,
                    seconds: float, patience: float) -> PhaseResult:
    await runner.start()
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    start = time.perf_counter() + warmup
    window = Window(start, start + seconds, patience)
    tally = Tally()
    try:
        # Everyone finishes the round trip in hand after the window; those don't count.
        results = await asyncio.gather(*people(window, tally))
    finally:
        report = await runner.stop()
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        # The stopped bot's last getUpdates still waits on the fake's queue for up to
        # POLLING_TIMEOUT; let it end so that it cannot swallow the next phase's updates.
        await asyncio.sleep(POLLING_TIMEOUT + 0.5)
    handled = sum(1 for t in tally.done_at if window.start <= t <= window.end)
    return PhaseResult(name, handled, seconds, sorted(tally.latency_ms), tally.timeouts,
                       tally.surprises, results, report, wall, cpu, len(tally.done_at))


# ---- setup ---------------------------------------------------------------------------------

async def prepare_database(path: Path, contacts: int, volunteers: list[int]) -> Database:
    await asyncio.to_thread(upgrade, sqlite_url(path))
    db = Database(sqlite_url(path))
    fields = parse_campaign_file(CAMPAIGN_FILE)
    # The clock stands still, so every card of the run falls in the same hour: the harvest
    # guard would pause each volunteer after the campaign's 40.
    fields["card_limit_per_hour"] = CARD_LIMIT
    # New callers' limits likewise; trust never comes, so each card takes the untrusted
    # path (the limit's count at the claim, trust's count at the record), the heavier one.
    fields.update(untrusted_cards_per_hour=CARD_LIMIT, untrusted_cards_per_day=CARD_LIMIT,
                  calls_to_trust=CARD_LIMIT)
    campaign, _ = await load_campaign(db, fields)
    csv_path = path.with_name("contacts.csv")
    write_contacts_csv(csv_path, contacts, seed=11)
    report = await import_contacts(db, campaign, io.BytesIO(csv_path.read_bytes()),
                                   source_label="bench")
    if report.imported != contacts:
        raise SystemExit(f"imported {report.imported} of {contacts} contacts")
    for user_id in volunteers:
        await decide_volunteer(db, user_id, True, actor_id=ORGANIZER_ID)
        await mark_trained(db, user_id)
    return db


def build_toile(api_url: str, database_url: str, timeout: float,
                campaign_ttl: float) -> tuple[Bot, Dispatcher, Database]:
    """As tests/conversation.py's make_harness builds it, but with the production campaign
    cache (30 s) rather than the tests' never-stale one."""
    settings = Settings(bot_token="42:TEST", telegram_api_url=api_url,
                        organizer_ids=[ORGANIZER_ID], database_url=database_url,
                        _env_file=None)  # type: ignore[call-arg]
    db = Database(settings.database_url)
    bot = build_bot(settings, timeout=timeout)
    dp = build_dispatcher(settings, db, campaigns=CampaignCache(db, ttl=campaign_ttl))
    settle_heap()  # as `toile run` does once started
    return bot, dp, db


def build_echo(api_url: str, timeout: float) -> tuple[Bot, Dispatcher]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
    bot = Bot("43:ECHO", session=session)
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dp = Dispatcher()
    dp.include_router(router)
    return bot, dp


def runner_for(spec: BotSpec, in_process: bool) -> tuple[BotRunner, Database | None]:
    """The same bot either way; in this process, a Toile bot's database must be closed after."""
    if not in_process:
        return ChildProcess(spec), None
    if spec.kind == "toile":
        bot, dp, db = build_toile(spec.api_url, spec.database_url, spec.timeout,
                                  spec.campaign_ttl)
        return InProcess(bot, dp), db
    return InProcess(*build_echo(spec.api_url, spec.timeout)), None


async def main_async(args: argparse.Namespace) -> None:
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-updates-"))
    fake = WatchedTelegram()
    fake.record = False  # the fake keeps no log of calls: memory stays flat
    real_utcnow = storage.clock.utcnow
    storage.clock.utcnow = lambda: FROZEN_NOW  # calling hours are open
    toile_db: Database | None = None
    try:
        await fake.start()
        volunteers = [VOLUNTEER_BASE + i for i in range(args.volunteers)]
        db = await prepare_database(workdir / "toile.db", args.contacts, volunteers)
        await sync_organizers(db, [ORGANIZER_ID])
        database_url = db.url.render_as_string(hide_password=False)
        await db.dispose()  # the bot opens its own
        # The fake server runs here, next to the people; this process imported the bot's
        # modules too. A full collection over them would stall the fake for a quarter of a
        # second, as no Telegram server does: out of the collector's sight.
        settle_heap()
        print(f"{args.contacts:,} contacts imported, {args.volunteers} volunteers approved and "
              f"trained; fake Bot API on {fake.url}; {args.warmup:g} s warm-up, "
              f"{args.seconds:g} s measured per phase; bots "
              + ("in this process, next to the fake server" if args.in_process
                 else "each in a process of its own"))

        rngs = {user_id: random.Random(user_id) for user_id in volunteers}
        profile_here = args.profile and args.in_process
        runner, toile_db = runner_for(BotSpec(
            "toile", fake.url, args.timeout, database_url, args.campaign_ttl,
            profile_sort=args.profile_sort if args.profile else None), args.in_process)
        profiler = cProfile.Profile() if profile_here else None
        if profiler:
            profiler.enable()
        toile = await run_phase(
            "Toile (/call + outcome)", fake, runner,
            lambda window, tally: [volunteer_loop(fake, user_id, window, tally, rngs[user_id])
                                   for user_id in volunteers],
            args.warmup, args.seconds, args.timeout)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.profile_sort).print_stats(45)
        if toile_db is not None:
            await toile_db.dispose()

        runner, _ = runner_for(BotSpec("echo", fake.url, args.timeout), args.in_process)
        echo = await run_phase(
            "bare aiogram echo", fake, runner,
            lambda window, tally: [echo_loop(fake, ECHO_BASE + i, window, tally)
                                   for i in range(args.volunteers)],
            args.warmup, args.seconds, args.timeout)
        with sqlite3.connect(workdir / "toile.db") as con:
            calls = con.execute("SELECT count(*) FROM call").fetchone()[0]
        con.close()
    finally:
        storage.clock.utcnow = real_utcnow
        if toile_db is not None:
            await toile_db.dispose()
        await fake.stop()
        logging.getLogger().removeHandler(errors)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(table(("bot", "updates handled", "updates/s", "round trip p50 ms",
                 "round trip p99 ms", "timeouts", "surprises"), [
        (r.name, f"{r.updates:,}", f"{r.rate:,.1f}", f"{percentile(r.latency_ms, 50):.1f}",
         f"{percentile(r.latency_ms, 99):.1f}", r.timeouts, len(r.surprises))
        for r in (toile, echo)]))
    # Which side was busy: a bot process near 100 % is the limit; a driver near 100 % would
    # mean the fake server and the people, not the bot, set the pace.
    for r in (toile, echo):
        driver = f"fake server and people {r.driver_cpu_seconds / r.phase_seconds:.0%}"
        if r.bot.cpu_seconds is None:
            print(f"CPU during {r.name}: bot, {driver} (one process)")
        else:
            # CPU per update holds up better than the rate when other work shares the cores.
            print(f"CPU during {r.name}: bot process {r.bot.cpu_seconds / r.phase_seconds:.0%}"
                  f" ({r.bot.cpu_seconds / max(1, r.handled_in_phase) * 1000:.2f} ms per update), "
                  f"{driver}")
    bot_errors = [*errors.messages, *toile.bot.errors, *echo.bot.errors]
    pressed = sum(toile.people_results)
    print(f"\noutcomes answered by the bot (whole run) {pressed:,}; calls in the database "
          f"{calls:,} {verdict(calls == pressed)}; errors logged by the bots {len(bot_errors)}"
          f" {verdict(not bot_errors)}")
    for message in [*toile.surprises, *echo.surprises, *bot_errors][:5]:
        print("  e.g.", message)
    ratio = toile.rate / echo.rate
    # A bot that says "nobody left to call" answers faster than one handing out cards: a
    # run whose queue ran dry (or that surprised otherwise) does not count.
    valid = not toile.surprises and not echo.surprises
    print(f"Toile / echo = {ratio:.1%} (target >= {TARGET_RATIO:.0%}) "
          f"{verdict(ratio >= TARGET_RATIO and valid)}"
          + ("" if valid else " (surprises: raise --contacts if the queue ran dry)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=50,
                        help="concurrent volunteers (and as many echo-bot users)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured, per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured, per phase")
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of the Toile bot (slows it down)")
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key")
    parser.add_argument("--campaign-ttl", type=float, default=30.0,
                        help="CampaignCache ttl (production default 30; the tests use 0)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="how long a person waits for an answer before giving up")
    parser.add_argument("--in-process", action="store_true",
                        help="run the bots in this process, next to the fake server")
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

"""The periodic pass: every open need of a campaign matched, the most needs possible and the
closest first (`optimal`, per department: matches never cross departments).

Run by the tick, and after a decline or an expiry. The departments go in waves of some
tens of thousands of requests; each wave is read, planned and written in turn, and the
steps overlap: while one wave's matches are written, the next one is read and planned in a
worker thread (HiGHS lets go of the GIL; neither the event loop nor a transaction waits for
it). A wave is written in a transaction of its own, holding the matching lock, in which its
plan is checked against the rows as they are now (`pass_reads.read_again`: a need matched
or cancelled meanwhile, a holder's place taken, a pair proposed meanwhile is dropped) and
the greedy matcher, which follows the same rules as `matching`, takes what is left: new
needs, and departments the solver could not plan. Waves, not departments one by one: each
statement waits for the GIL the plan's thread holds, and a hundred departments' thousand
statements waited seconds; a wave's few statements each do tens of thousands of rows.

On PostgreSQL two waves are written at once, on two connections: a wave's statements keep
one server process busy, and the writes were most of the pass (`_Writes`). The waves share
the matching lock, which every other matcher takes alone, and a pass holds its own lock
throughout (`ONE_PASS`): two passes at once, a tick's and another process's, would plan
the same needs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from storage import clock
from storage.database import Database
from storage.models import Campaign
from storage.proxies.greedy import Made, Matcher, OpenRequest
from storage.proxies.matching import ONE_PASS, SERIALIZE_WAVE, next_match_ids
from storage.proxies.notices import Proposed, queue_proposals
from storage.proxies.pass_plan import plan_area
from storage.proxies.pass_reads import DEPARTMENTS, Area, Planned, read_again, read_area
from storage.proxies.pass_writes import write_pass

# The whole plan's time; a department HiGHS has not finished in what is left of it falls
# back to the greedy matcher (logged), as do the departments after the budget is spent.
PLAN_BUDGET_S = 30.0
# Open requests a wave: a national campaign's first pass (100,000) goes in four or five.
WAVE_REQUESTS = 25_000
# The first wave is smaller: nothing is written while it is planned, and the ones after
# it are planned while the one before is written.
FIRST_WAVE_SHARE = 0.4
# Waves written at once on PostgreSQL (SQLite's writers take turns). Two: the machine the
# pass is measured on has two cores, one for the server's writes, one for the plan.
WRITERS = 2
log = logging.getLogger(__name__)


@dataclass
class _Tally:
    """What the pass did, for its log line. Seconds are each step's own, summed over the
    waves: steps overlap, so they add up to more than the whole."""

    matches: int = 0
    planned: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    greedy: dict[str, str] = field(default_factory=dict)  # department: why
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, planned: Planned) -> None:
        for outcome, departments in planned.outcomes.items():
            self.outcomes[outcome] += departments
        self.greedy.update(planned.greedy)

    def log(self) -> None:
        if self.greedy:
            log.warning("proxy pass: left to the greedy matcher, %d department(s): %s",
                        len(self.greedy),
                        "; ".join(f"{d} ({why})" for d, why in sorted(self.greedy.items())))
        outcomes = {**self.outcomes, **({"greedy": len(self.greedy)} if self.greedy else {})}
        log.info("proxy pass: %d matches, %d of them planned (%s); seconds %s", self.matches,
                 self.planned, outcomes, {k: round(v, 2) for k, v in self.seconds.items()})


@contextmanager
def _timed(seconds: dict[str, float], what: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[what] += time.perf_counter() - start


@contextmanager
def _no_collection() -> Iterator[None]:
    """The pass makes a few hundred thousand objects and no cycles: the cyclic collector,
    run every 700 allocations over all of them, took half its time (0.9 s of the greedy
    matching, 0.44 s without, on 50,000 needs and offers; with the plan, on a busy machine,
    the whole pass took 21.9 s with it, 14.6 s without). It is off for the pass's seconds,
    awaits included."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def match_all(db: Database, campaign: Campaign, now: datetime | None = None,
                    *, budget_s: float = PLAN_BUDGET_S) -> list[int]:
    """A full pass over the campaign's own requests, wave by wave: the plan from a
    snapshot, then what still holds of it and the greedy matcher for the rest (needs
    waiting longest first), written at once (over arrays) with its proposals. Returns the
    new match ids."""
    now = now or clock.utcnow()
    tally, ids = _Tally(), []
    with _timed(tally.seconds, "total"):
        async with _one_pass_at_a_time(db):  # waited for with the collector on
            with _no_collection():
                async with db.fast_read(long=True) as tx:
                    waves = _waves(await tx.all(DEPARTMENTS, campaign_id=campaign.id))
                planner = _Planner(deadline=time.monotonic() + budget_s, tally=tally)
                try:
                    if waves:
                        ids = await _each_wave(db, campaign, waves, planner, now, tally)
                finally:
                    planner.cancel()
    if waves:
        tally.log()
    return ids


@asynccontextmanager
async def _one_pass_at_a_time(db: Database) -> AsyncIterator[None]:
    """On PostgreSQL, a transaction of its own holding the pass's lock while the waves are
    written on other connections. SQLite writes one wave at a time, each checked as it is
    written, so two passes there take turns wave by wave (and one finds what the other
    left), and holding its writer lock throughout would stop every other writer."""
    if db.is_sqlite:
        yield
        return
    async with db.fast_write() as tx:
        await tx.one(ONE_PASS)
        yield


async def _each_wave(db: Database, campaign: Campaign, waves: list[list[str]],
                     planner: _Planner, now: datetime, tally: _Tally) -> list[int]:
    """Each wave read and planned in turn, then written while the next one is read and
    planned."""

    def read_and_plan(departments: list[str]) -> asyncio.Future[Area]:
        reading = asyncio.ensure_future(_read_wave(db, campaign, departments, tally))
        planner.begin(reading)
        return reading

    writes = _Writes(asyncio.Semaphore(1 if db.is_sqlite else WRITERS))
    try:
        reading = read_and_plan(waves[0])
        for following in [*waves[1:], None]:
            area, planned = await reading, await planner.planned()
            tally.add(planned)
            await writes.begin(partial(_write, db, campaign, area, planned, now, tally,
                                       numbering=writes.numbering))
            if following is not None:
                reading = read_and_plan(following)
        return await writes.ids()
    except BaseException:
        await writes.cancel()
        raise


_Write = Callable[[Callable[[], None]], Awaitable[list[int]]]


@dataclass
class _Writes:
    """The waves being written, each in its transaction: at most `room` at once. Their
    match ids are taken one wave at a time (`numbering`): they share the matching lock."""

    room: asyncio.Semaphore
    numbering: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: list[asyncio.Task[list[int]]] = field(default_factory=list)

    async def begin(self, write: _Write) -> None:
        """`write(then)` begun once there is room, and awaited until it calls `then` (its
        wave checked: the next one's read and plan may begin) or ends. A write that
        failed, this one or one before, raises its error here."""
        await self.room.acquire()
        checked = asyncio.get_running_loop().create_future()

        def then() -> None:
            if not checked.done():
                checked.set_result(None)

        async def written() -> list[int]:
            try:
                return await write(then)
            finally:
                then()
                self.room.release()

        self.tasks.append(asyncio.ensure_future(written()))
        while True:
            for task in self.tasks:
                if task.done():
                    task.result()  # a failed write's error, at once
            if checked.done():
                return
            await asyncio.wait([checked, *(t for t in self.tasks if not t.done())],
                               return_when=asyncio.FIRST_COMPLETED)

    async def ids(self) -> list[int]:
        """Every wave's new match ids, once all are written. Waited for with `wait`, not
        `gather`: a gather cancelled cancels every write and ends with the first one
        done, and `cancel` would then break off the others' rollbacks."""
        await asyncio.wait(self.tasks)
        return [i for task in self.tasks for i in task.result()]

    async def cancel(self) -> None:
        """The writes not done rolled back, and waited for: none outlives the pass. Each
        is cancelled once: a second cancel breaks off its rollback, and its transaction
        stays open on a pooled connection, holding the matching lock from every matcher."""
        pending = [task for task in self.tasks if not task.done()]
        for task in pending:
            if not task.cancelling():
                task.cancel()
        if pending:
            await asyncio.wait(pending)


def _waves(departments: list[Sequence[Any]]) -> list[list[str]]:
    """The departments (with their open requests) in waves of about WAVE_REQUESTS."""
    waves: list[list[str]] = []
    size = limit = WAVE_REQUESTS * FIRST_WAVE_SHARE
    for department, requests in departments:
        if size >= limit:
            waves.append([])
            size, limit = 0, (WAVE_REQUESTS * FIRST_WAVE_SHARE if len(waves) == 1
                              else WAVE_REQUESTS)
        waves[-1].append(str(department))
        size += int(requests)
    return waves


async def _read_wave(db: Database, campaign: Campaign, departments: list[str],
                     tally: _Tally) -> Area:
    with _timed(tally.seconds, "read"):
        async with db.fast_read(long=True) as tx:
            return await read_area(tx, campaign, departments)


@dataclass
class _Planner:
    """The next wave's plan, made in a worker thread while this one is written. Begun
    only once the wave being written has been read again: that read, and the wave's own,
    would otherwise wait for the GIL the planning thread holds (a check of 1.0 s took
    1.7-2.0 s on SQLite)."""

    deadline: float
    tally: _Tally
    task: asyncio.Task[Planned] | None = None

    def begin(self, reading: Awaitable[Area]) -> None:
        """The plan of the wave `reading` gives, once read."""
        assert self.task is None

        async def plan() -> Planned:
            area = await reading
            with _timed(self.tally.seconds, "plan"):
                return await _planned(area.needs, area.matcher,
                                      self.deadline - time.monotonic())

        self.task = asyncio.ensure_future(plan())

    async def planned(self) -> Planned:
        assert self.task is not None
        task, self.task = self.task, None
        return await task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


async def _planned(needs: list[OpenRequest], matcher: Matcher, budget_s: float) -> Planned:
    """A wave's plan, in a worker thread: neither the event loop nor a transaction waits."""
    return await asyncio.to_thread(plan_area, needs, matcher, budget_s)


async def _write(db: Database, campaign: Campaign, area: Area, planned: Planned,
                 now: datetime, tally: _Tally, then: Callable[[], None], *,
                 numbering: asyncio.Lock) -> list[int]:
    """The wave's matches that still hold, and the greedy matcher's, written in one
    transaction with their proposals. `then` (the next wave's read and plan begun) once the
    wave is checked, before its writes; the match ids taken holding `numbering`."""
    if not planned.pairs and not planned.greedy:
        # Nothing to propose: a need the plan left alone had no holder, and a need since
        # then was matched as it came (`matching`).
        then()
        return []
    async with db.fast_write(long=True) as tx:
        await tx.one(SERIALIZE_WAVE)
        with _timed(tally.seconds, "check"):
            area = await read_again(tx, campaign, area, planned)
            made = _follow(planned, area)
        then()
        if not made:
            return []
        with _timed(tally.seconds, "write"):
            async with numbering:
                ids = await next_match_ids(tx, len(made))
            numbered = list(zip(ids, made, strict=True))
            # The holders the pass filled, known here: no place to count again.
            full = sorted({m.offer.id for m in made if area.matcher.is_full(m.offer)})
            await write_pass(
                tx, [(mid, m.need.id, m.offer.id, m.need.rounds_mask) for mid, m in numbered],
                [(m.offer.id, d, slot, mid) for mid, m in numbered for d, slot in m.taken],
                [m.need.id for m in made] + full, now)
            await queue_proposals(tx, [Proposed(mid, m.need.user_id, m.offer.user_id)
                                       for mid, m in numbered], new_matches=True)
    tally.matches += len(made)
    tally.planned += sum(1 for m in made if m.planned)
    return ids


def _follow(planned: Planned, area: Area) -> list[Made]:
    """The plan's pairs that still hold, then the greedy matcher for the needs the plan
    did not decide (new since the snapshot, their planned holder taken meanwhile, their
    department not planned), in waiting order. A need the plan left without a holder had
    none: a holder offering since then is matched as they come (`matching`)."""
    offer_of = dict(planned.pairs)
    matcher, offers = area.matcher, area.matcher.by_id()
    made: dict[int, Made] = {}
    for need in area.needs:
        offer = offers.get(offer_of.get(need.id, -1))
        if offer is not None:
            taken = matcher.take(need, offer)
            if taken is not None:
                made[need.id] = taken
    for need in area.needs:
        if need.id not in made and (need.id in offer_of or need.id not in planned.considered):
            taken = matcher.match(need)
            if taken is not None:
                made[need.id] = taken
    return [made[need.id] for need in area.needs if need.id in made]

"""The periodic pass: every open need of a campaign matched at once, the most needs possible
and the closest first (`optimal`, per department), then every match written at once with
its proposals.

Run by the tick, and after a decline or an expiry. The plan is made outside any
transaction, in a worker thread, from a snapshot: HiGHS takes a second or two on a national
campaign, and neither the phone bank's writers nor the event loop wait for it. Then, in one
transaction holding the matching lock, the plan is checked against the rows as they are now
(a need matched or cancelled meanwhile, a holder's place taken, a pair proposed meanwhile
is dropped) and the greedy matcher of old, which follows the same rules as `matching`,
takes what is left: new needs, and departments the solver could not plan.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from storage import clock
from storage.database import Database
from storage.driver import SQL, PostgresTx, Tx
from storage.models import Campaign, ProxyKind
from storage.proxies.lexicographic import SolverFailed
from storage.proxies.matching import SERIALIZE, free_slot, next_match_ids
from storage.proxies.notices import Proposed, queue_proposals
from storage.proxies.optimal import Department, Outcome
from storage.proxies.pass_writes import OFFERS_FILLED, write_pass
from storage.proxies.rules import (
    OPEN,
    masked,
    round_dates,
)
from storage.rows import columns

TIERS = 4  # same station, same commune, constituency, department
# The whole plan's time; a department HiGHS has not finished in its share falls back to the
# greedy matcher (logged), as do the departments after the budget is spent.
PLAN_BUDGET_S = 30.0
log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Open:
    """An open need or offer as the pass reads it. Filled positionally from its own select
    list (`columns`): a pass reads 100,000 of them, and `reader`'s conversions (none needed
    for these integers and strings) would cost it half a second."""

    id: int
    user_id: int | None
    commune_insee: str
    station: str
    constituency: str | None
    department: str
    rounds_mask: int

    def keys(self) -> tuple[Any, ...]:
        """Its key in each tier's buckets, closest first (None: no such key)."""
        return ((self.commune_insee, self.station), self.commune_insee, self.constituency,
                self.department)


@dataclass(slots=True)
class _Offer(_Open):
    slots: dict[str, set[int]] = field(init=False, default_factory=lambda: defaultdict(set))


class _Made(NamedTuple):
    need: _Open
    offer: _Offer
    taken: list[tuple[str, int]]  # (round date, slot)
    planned: bool = False  # the exact plan's pair, not the greedy matcher's


# The campaign's open requests, waiting longest first; read again in full when the pass
# writes: a request taken on the phone may be someone's since (storage.contacts.links), and
# on SQLite an id freed by /forget is given again, to a request elsewhere.
_OPEN_NOW = SQL.of(f"SELECT {columns(_Open)}, kind FROM proxy_request "
                   f"WHERE campaign_id = :campaign_id AND status = {OPEN} ORDER BY created_at, id")
_ALL_SLOTS = SQL.of("SELECT offer_id, round_date, slot FROM proxy_slot")
_TRIED = SQL.of("SELECT need_id, offer_id FROM proxy_match")


def _serves(offer: _Offer, mask: int, rounds: list[str], capacity: int) -> bool:
    """The offer covers the rounds, with a place left in each."""
    return ((offer.rounds_mask & mask) == mask
            and all(len(offer.slots[d]) < capacity for d in rounds))


class _Matcher:
    """The offers of one pass, in memory, and the needs' choices among them."""

    def __init__(self, offers: list[_Offer], dates: list[str], capacity: int,
                 tried: set[tuple[int, int]]) -> None:
        self.dates, self.capacity, self.tried = dates, capacity, tried
        self.offers = offers  # in waiting order
        self._buckets: list[dict[Any, list[_Offer]]] | None = None
        # Offers only fill up during a pass: once an offer cannot serve a set of rounds, it
        # never will again. So each (tier, key, rounds) list is searched from the first
        # offer that still can, instead of from its start (8 million looks -> 0.2 million
        # on 50,000 needs and offers).
        self.starts: dict[tuple[int, Any, int], int] = {}
        self.rounds: dict[int, list[str]] = {}  # a mask's round dates

    @property
    def buckets(self) -> list[dict[Any, list[_Offer]]]:
        """The offers by tier and key, in waiting order; made when the greedy matcher is
        first needed (after a plan, seldom)."""
        if self._buckets is None:
            self._buckets = [defaultdict(list) for _ in range(TIERS)]
            for offer in self.offers:
                for bucket, key in zip(self._buckets, offer.keys(), strict=True):
                    if key is not None:
                        bucket[key].append(offer)
        return self._buckets

    def _in_tier(self, tier: int, key: Any, need: _Open, rounds: list[str]) -> _Offer | None:
        # The pass's inner loop (0.2 million looks): names bound locally, no method calls.
        offers_here, mask, capacity = self.buckets[tier][key], need.rounds_mask, self.capacity
        first = self.starts.get((tier, key, mask), 0)
        while first < len(offers_here) and not _serves(offers_here[first], mask, rounds,
                                                       capacity):
            first += 1
        self.starts[(tier, key, mask)] = first
        tried, need_id, user_id = self.tried, need.id, need.user_id
        wider = None  # a holder of more rounds than the need's: kept for a need of them all
        for index in range(first, len(offers_here)):
            offer = offers_here[index]
            if (_serves(offer, mask, rounds, capacity)
                    and (offer.user_id is None or offer.user_id != user_id)
                    and (need_id, offer.id) not in tried):
                if offer.rounds_mask == mask:
                    return offer
                wider = wider or offer
        return wider

    def by_id(self) -> dict[int, _Offer]:
        return {offer.id: offer for offer in self.offers}

    def room(self, offer: _Offer) -> tuple[int, ...]:
        """The offer's places left in each of the campaign's rounds (0 outside its own)."""
        return tuple(max(0, self.capacity - len(offer.slots[d])) if offer.rounds_mask >> i & 1
                     else 0 for i, d in enumerate(self.dates))

    def _rounds_of(self, mask: int) -> list[str]:
        """A mask's round dates, worked out once a pass."""
        rounds = self.rounds.get(mask)
        if rounds is None:
            rounds = self.rounds[mask] = masked(self.dates, mask)
        return rounds

    def take(self, need: _Open, offer: _Offer) -> _Made | None:
        """A planned pair, if the rules still allow it now."""
        rounds = self._rounds_of(need.rounds_mask)
        if (not _serves(offer, need.rounds_mask, rounds, self.capacity)
                or (offer.user_id is not None and offer.user_id == need.user_id)
                or (need.id, offer.id) in self.tried):
            return None
        return _Made(need, offer, self._seat(offer, rounds))

    @staticmethod
    def _seat(offer: _Offer, rounds: list[str]) -> list[tuple[str, int]]:
        taken = []
        for d in rounds:
            slot = free_slot(offer.slots[d])
            offer.slots[d].add(slot)
            taken.append((d, slot))
        return taken

    def match(self, need: _Open) -> _Made | None:
        """The need's best holder, its places taken; None if no offer serves it."""
        rounds = self._rounds_of(need.rounds_mask)
        for tier, (bucket, key) in enumerate(zip(self.buckets, need.keys(), strict=True)):
            if key is None or key not in bucket:
                continue
            chosen = self._in_tier(tier, key, need, rounds)
            if chosen is not None:
                return _Made(need, chosen, self._seat(chosen, rounds))
        return None


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


async def _read(tx: Tx, campaign: Campaign) -> tuple[list[_Open], _Matcher]:
    """The campaign's open needs, waiting longest first, and its open offers with their
    places taken and the pairs proposed before."""
    rows = await tx.all(_OPEN_NOW, campaign_id=campaign.id)
    needs = [_Open(*row[:7]) for row in rows if row[7] == ProxyKind.NEED.value]
    offers = [_Offer(*row[:7]) for row in rows if row[7] == ProxyKind.OFFER.value]
    return needs, await _with_slots(tx, campaign, offers)


async def _with_slots(tx: Tx, campaign: Campaign, offers: list[_Offer]) -> _Matcher:
    by_id = {offer.id: offer for offer in offers}
    for offer in offers:
        offer.slots.clear()
    for oid, round_date, slot in await tx.all(_ALL_SLOTS):
        if int(oid) in by_id:
            by_id[int(oid)].slots[str(round_date)].add(int(slot))
    tried = {(int(n), int(o)) for n, o in await tx.all(_TRIED)}
    return _Matcher(offers, round_dates(campaign), campaign.proxy_capacity, tried)


async def _read_again(tx: Tx, campaign: Campaign, needs: list[_Open], offers: list[_Offer],
                      planned: _Planned) -> tuple[list[_Open], _Matcher]:
    """The same, as it is now: the snapshot's requests still open, their person as now,
    then the others (new, or open again after a decline), and every place taken. A pair
    planned with a request that is another one now is void (its need the greedy's)."""
    open_now = {int(row[0]): row for row in await tx.all(_OPEN_NOW, campaign_id=campaign.id)}
    need_kind, offer_kind = ProxyKind.NEED.value, ProxyKind.OFFER.value
    kept: dict[int, _Open] = {}
    for request, kind in [(n, need_kind) for n in needs] + [(o, offer_kind) for o in offers]:
        row = open_now.get(request.id)
        if row is not None and row[7] == kind and tuple(row[2:7]) == (
                request.commune_insee, request.station, request.constituency,
                request.department, request.rounds_mask):
            request.user_id = None if row[1] is None else int(row[1])
            kept[request.id] = request
    new = [row for i, row in open_now.items() if i not in kept]
    if replaced := {int(row[0]) for row in new} & {r.id for r in (*needs, *offers)}:
        planned.pairs = [(n, -1 if o in replaced else o) for n, o in planned.pairs
                         if n not in replaced]
        planned.considered -= replaced
    return ([n for n in needs if n.id in kept]
            + [_Open(*row[:7]) for row in new if row[7] == need_kind],
            await _with_slots(tx, campaign, [o for o in offers if o.id in kept]
                              + [_Offer(*row[:7]) for row in new if row[7] == offer_kind]))


@dataclass
class _Planned:
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (need id, offer id)
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Needs of the departments planned: those left without a holder had none to have.
    considered: set[int] = field(default_factory=set)


def _plan(needs: list[_Open], matcher: _Matcher, budget_s: float) -> _Planned:
    """The best pairs of each department (`optimal`); a department the solver fails, or
    that the budget leaves no time for, is left to the greedy matcher, and logged. HiGHS
    solves one department (in its own thread) while the next one's model is built."""
    planned = _Planned()
    offers: dict[str, list[_Offer]] = defaultdict(list)
    for offer in matcher.offers:
        offers[offer.department].append(offer)
    by_department: dict[str, list[_Open]] = defaultdict(list)
    for need in needs:
        by_department[need.department].append(need)
    deadline = time.monotonic() + budget_s
    greedy: dict[str, str] = {}  # department: why

    def finish(department: str, model: Department, here: list[_Open],
               holders: list[_Offer], solving: Future[tuple[Any, Outcome]]) -> None:
        try:
            plan = model.plan(solving.result())
        except Exception as failed:  # a plan that fails, whatever the cause: greedy there
            greedy[department] = str(failed) if isinstance(failed, SolverFailed) else repr(failed)
            return
        planned.outcomes[plan.outcome.value] += 1
        planned.pairs += [(here[i].id, holders[j].id) for i, j in plan.pairs]
        planned.considered.update(need.id for need in here)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="proxy-plan") as solver:
        pending: tuple[Any, ...] | None = None
        for department, here in by_department.items():
            if time.monotonic() >= deadline:
                greedy[department] = "the pass's time budget is spent"
                continue
            holders = offers.get(department, [])
            model = Department(here, holders, [matcher.room(offer) for offer in holders],
                               _apart(here, holders, matcher.tried))
            solving = solver.submit(model.solve, deadline - time.monotonic())
            if pending is not None:
                finish(*pending)
            pending = (department, model, here, holders, solving)
        if pending is not None:
            finish(*pending)
    if greedy:
        planned.outcomes["greedy"] = len(greedy)
        log.warning("proxy pass: left to the greedy matcher, %d department(s): %s", len(greedy),
                    "; ".join(f"{d} ({why})" for d, why in sorted(greedy.items())))
    return planned


def _apart(needs: list[_Open], holders: list[_Offer],
           tried: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs of this department that may not meet: proposed before, or one person."""
    need_at = {need.id: i for i, need in enumerate(needs)}
    holder_at = {holder.id: j for j, holder in enumerate(holders)}
    apart = [(need_at[n], holder_at[o]) for n, o in tried if n in need_at and o in holder_at]
    holders_of: dict[int, list[int]] = defaultdict(list)
    for j, holder in enumerate(holders):
        if holder.user_id is not None:
            holders_of[holder.user_id].append(j)
    apart += [(i, j) for i, need in enumerate(needs) if need.user_id is not None
              for j in holders_of.get(need.user_id, [])]
    return apart


async def match_all(db: Database, campaign: Campaign, now: datetime | None = None,
                    *, budget_s: float = PLAN_BUDGET_S) -> list[int]:
    """A full pass: the plan from a snapshot, then, in one transaction, what still holds of
    it and the greedy matcher for the rest (needs waiting longest first); every match
    written at once (over arrays) and its proposals queued in the same transaction. The
    campaign's own requests only. Returns the new match ids."""
    now = now or clock.utcnow()
    seconds: dict[str, float] = {}
    with _no_collection(), _timed(seconds, "total"):
        async with db.fast_read(long=True) as tx:
            needs, matcher = await _read(tx, campaign)
        if not needs:
            return []
        with _timed(seconds, "plan"):
            planned = await _planned(needs, matcher, budget_s)
        async with db.fast_write(long=True) as tx:
            await tx.one(SERIALIZE)
            with _timed(seconds, "check"):
                needs, matcher = await _read_again(tx, campaign, needs, matcher.offers,
                                                   planned)
                made = _follow(planned, needs, matcher)
            if not made:
                return []
            with _timed(seconds, "write"):
                ids = await next_match_ids(tx, len(made))
                numbered = list(zip(ids, made, strict=True))
                await write_pass(
                    tx, [(mid, m.need.id, m.offer.id, m.need.rounds_mask) for mid, m in numbered],
                    [(m.offer.id, d, slot, mid) for mid, m in numbered for d, slot in m.taken],
                    [m.need.id for m in made], now)
                # The holders the pass filled, known here: no place to count again.
                full = sorted({m.offer.id for m in made if not any(matcher.room(m.offer))})
                await tx.run(OFFERS_FILLED,
                             ids=full if isinstance(tx, PostgresTx) else json.dumps(full))
                await queue_proposals(tx, [Proposed(mid, m.need.user_id, m.offer.user_id)
                                           for mid, m in numbered])
    log.info("proxy pass: %d matches, %d of them planned (%s); seconds %s", len(made),
             sum(1 for m in made if m.planned), dict(planned.outcomes),
             {k: round(v, 2) for k, v in seconds.items()})
    return ids


@contextmanager
def _timed(seconds: dict[str, float], what: str) -> Iterator[None]:
    """For the log: where a pass's time goes ("total" is the whole pass)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[what] = time.perf_counter() - start


async def _planned(needs: list[_Open], matcher: _Matcher, budget_s: float) -> _Planned:
    """The plan, in a worker thread: neither the event loop nor a transaction waits."""
    return await asyncio.to_thread(_plan, needs, matcher, budget_s)


def _follow(planned: _Planned, needs: list[_Open], matcher: _Matcher) -> list[_Made]:
    """The plan's pairs that still hold, then the greedy matcher for the needs the plan
    did not decide (new since the snapshot, their planned holder taken meanwhile, their
    department not planned), in waiting order. A need the plan left without a holder had
    none: a holder offering since then is matched as they come (`matching`)."""
    offer_of = dict(planned.pairs)
    offers = matcher.by_id()
    made: dict[int, _Made] = {}
    for need in needs:
        offer = offers.get(offer_of.get(need.id, -1))
        if offer is not None:
            taken = matcher.take(need, offer)
            if taken is not None:
                made[need.id] = taken._replace(planned=True)
    for need in needs:
        if need.id not in made and (need.id in offer_of or need.id not in planned.considered):
            taken = matcher.match(need)
            if taken is not None:
                made[need.id] = taken
    return [made[need.id] for need in needs if need.id in made]

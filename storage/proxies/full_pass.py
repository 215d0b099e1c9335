"""The periodic pass: every open need of a campaign, waiting longest first, matched in
memory against its open offers, then every match written at once with its proposals.

Run by the tick, and after a decline or an expiry. It reads tens of thousands of rows and
writes as many in one transaction, so it works in memory: offers bucketed by station,
commune, constituency and department, in waiting order; the same rules as `matching`.
"""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from storage import clock
from storage.database import Database
from storage.driver import SQL, PostgresTx, Tx
from storage.models import Campaign
from storage.proxies.matching import SERIALIZE, free_slot, next_match_ids
from storage.proxies.notices import Proposed, queue_proposals
from storage.proxies.rules import (
    MATCHED,
    NEED,
    OFFER,
    OPEN,
    PROPOSAL_HOURS,
    PROPOSED,
    masked,
    round_dates,
)
from storage.rows import columns

TIERS = 4  # same station, same commune, constituency, department


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


_OPEN_REQUESTS = (f"SELECT {columns(_Open)} FROM proxy_request WHERE campaign_id = :campaign_id "
                  f"AND kind = {{kind}} AND status = {OPEN} ORDER BY created_at, id")
_OPEN_NEEDS = SQL.of(_OPEN_REQUESTS.format(kind=NEED))
_OPEN_OFFERS = SQL.of(_OPEN_REQUESTS.format(kind=OFFER))
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
        self.buckets: list[dict[Any, list[_Offer]]] = [defaultdict(list) for _ in range(TIERS)]
        for offer in offers:
            for bucket, key in zip(self.buckets, offer.keys(), strict=True):
                if key is not None:
                    bucket[key].append(offer)
        # Offers only fill up during a pass: once an offer cannot serve a set of rounds, it
        # never will again. So each (tier, key, rounds) list is searched from the first
        # offer that still can, instead of from its start (8 million looks -> 0.2 million
        # on 50,000 needs and offers).
        self.starts: dict[tuple[int, Any, int], int] = {}
        self.rounds: dict[int, list[str]] = {}  # a mask's round dates

    def _in_tier(self, tier: int, key: Any, need: _Open, rounds: list[str]) -> _Offer | None:
        # The pass's inner loop (0.2 million looks): names bound locally, no method calls.
        offers_here, mask, capacity = self.buckets[tier][key], need.rounds_mask, self.capacity
        first = self.starts.get((tier, key, mask), 0)
        while first < len(offers_here) and not _serves(offers_here[first], mask, rounds,
                                                       capacity):
            first += 1
        self.starts[(tier, key, mask)] = first
        tried, need_id, user_id = self.tried, need.id, need.user_id
        for index in range(first, len(offers_here)):
            offer = offers_here[index]
            if (_serves(offer, mask, rounds, capacity)
                    and (offer.user_id is None or offer.user_id != user_id)
                    and (need_id, offer.id) not in tried):
                return offer
        return None

    def match(self, need: _Open) -> _Made | None:
        """The need's best holder, its places taken; None if no offer serves it."""
        rounds = self.rounds.get(need.rounds_mask)
        if rounds is None:
            rounds = self.rounds[need.rounds_mask] = masked(self.dates, need.rounds_mask)
        for tier, (bucket, key) in enumerate(zip(self.buckets, need.keys(), strict=True)):
            if key is None or key not in bucket:
                continue
            chosen = self._in_tier(tier, key, need, rounds)
            if chosen is not None:
                taken = []
                for d in rounds:
                    slot = free_slot(chosen.slots[d])
                    chosen.slots[d].add(slot)
                    taken.append((d, slot))
                return _Made(need, chosen, taken)
        return None


@contextmanager
def _no_collection() -> Iterator[None]:
    """The matching makes a hundred thousand objects and no cycles, with no await: the
    cyclic collector, run every 700 allocations over the pass's half-million live objects,
    took half its time (0.9 s of it, 0.44 s without, on 50,000 needs and offers)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _matcher(tx: Tx, campaign: Campaign) -> _Matcher:
    offers = [_Offer(*row) for row in await tx.all(_OPEN_OFFERS, campaign_id=campaign.id)]
    by_id = {offer.id: offer for offer in offers}
    for oid, round_date, slot in await tx.all(_ALL_SLOTS):
        if int(oid) in by_id:
            by_id[int(oid)].slots[str(round_date)].add(int(slot))
    tried = {(int(n), int(o)) for n, o in await tx.all(_TRIED)}
    return _Matcher(offers, round_dates(campaign), campaign.proxy_capacity, tried)


async def match_all(db: Database, campaign: Campaign, now: datetime | None = None) -> list[int]:
    """A full pass, needs waiting longest first; every match written at once (over arrays)
    and its proposals queued in the same transaction. The campaign's own requests only.
    Returns the new match ids."""
    now = now or clock.utcnow()
    async with db.fast_write(long=True) as tx:
        await tx.one(SERIALIZE)
        needs = [_Open(*row) for row in await tx.all(_OPEN_NEEDS, campaign_id=campaign.id)]
        if not needs:
            return []
        matcher = await _matcher(tx, campaign)
        with _no_collection():
            made = [m for m in map(matcher.match, needs) if m is not None]
        if not made:
            return []
        ids = await next_match_ids(tx, len(made))
        await _write_pass(tx, list(zip(ids, made, strict=True)), now)
        await queue_proposals(tx, [Proposed(mid, m.need.user_id, m.offer.user_id)
                                   for mid, m in zip(ids, made, strict=True)])
    return ids


# A whole pass is three statements over arrays, one element a row, in either dialect: tens
# of thousands of single-row statements cost PostgreSQL seconds (each one's round trip and
# index work); SQLite reads its arrays from JSON, as fast as an executemany of named rows.
_INSERT_MATCHES = {
    "postgres": SQL.of(
        "INSERT INTO proxy_match (id, need_id, offer_id, rounds_mask, status, proposed_at, "
        f"expires_at) SELECT m.id, m.need, m.offer, m.mask, {PROPOSED}, :proposed_at, "
        ":expires_at FROM unnest(:ids::int[], :needs::int[], :offers::int[], :masks::int[]) "
        "AS m(id, need, offer, mask)"),
    "sqlite": SQL.of(
        "INSERT INTO proxy_match (id, need_id, offer_id, rounds_mask, status, proposed_at, "
        "expires_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        f"json_extract(value, '$[2]'), json_extract(value, '$[3]'), {PROPOSED}, "
        ":proposed_at, :expires_at FROM json_each(:matches)"),
}
_INSERT_SLOTS = {
    "postgres": SQL.of(
        "INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) SELECT * FROM "
        "unnest(:offers::int[], :round_dates::text[], :slots::int[], :matches::int[])"),
    "sqlite": SQL.of(
        "INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) "
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        "json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(:slots)"),
}
_NEEDS_MATCHED = {
    "postgres": SQL.of(
        f"UPDATE proxy_request SET status = {MATCHED} WHERE id = ANY(:ids::int[])"),
    "sqlite": SQL.of(f"UPDATE proxy_request SET status = {MATCHED} "
                     "WHERE id IN (SELECT value FROM json_each(:ids))"),
}


async def _write_pass(tx: Tx, made: list[tuple[int, _Made]], now: datetime) -> None:
    stamp, expires = tx.value(now), tx.value(now + timedelta(hours=PROPOSAL_HOURS))
    matches = [(mid, m.need.id, m.offer.id, m.need.rounds_mask) for mid, m in made]
    slots = [(m.offer.id, d, slot, mid) for mid, m in made for d, slot in m.taken]
    needs = [m.need.id for _mid, m in made]
    if isinstance(tx, PostgresTx):
        ids, need_ids, offers, masks = (list(c) for c in zip(*matches, strict=True))
        await tx.run(_INSERT_MATCHES["postgres"], ids=ids, needs=need_ids, offers=offers,
                     masks=masks, proposed_at=stamp, expires_at=expires)
        offers, dates, numbers, match_ids = (list(c) for c in zip(*slots, strict=True))
        await tx.run(_INSERT_SLOTS["postgres"], offers=offers, round_dates=dates,
                     slots=numbers, matches=match_ids)
        await tx.run(_NEEDS_MATCHED["postgres"], ids=needs)
        return
    await tx.run(_INSERT_MATCHES["sqlite"], matches=json.dumps(matches), proposed_at=stamp,
                 expires_at=expires)
    await tx.run(_INSERT_SLOTS["sqlite"], slots=json.dumps(slots))
    await tx.run(_NEEDS_MATCHED["sqlite"], ids=json.dumps(needs))

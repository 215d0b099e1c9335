"""The pass's requests in memory, and its greedy matcher: the rules of `matching` (the
closest tier first, within a tier a holder of exactly the need's rounds first, a pair
proposed once, nobody their own holder) over one department's open needs and offers.

It takes the needs the exact plan did not decide (new since its snapshot, their planned
holder taken meanwhile, a department the solver could not plan), and checks that each
planned pair still holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from storage.proxies.matching import free_slot
from storage.proxies.rules import masked

TIERS = 4  # same station, same commune, constituency, department


@dataclass(slots=True)
class OpenRequest:
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

    def place(self) -> tuple[Any, ...]:
        """What the pass compares with the row as it is now: a request whose place or
        rounds differ is another one (on SQLite an id freed by /forget is given again)."""
        return (self.commune_insee, self.station, self.constituency, self.department,
                self.rounds_mask)


@dataclass(slots=True)
class OpenOffer(OpenRequest):
    slots: dict[str, set[int]] = field(init=False, default_factory=lambda: defaultdict(set))


class Made(NamedTuple):
    need: OpenRequest
    offer: OpenOffer
    taken: list[tuple[str, int]]  # (round date, slot)
    planned: bool = False  # the exact plan's pair, not the greedy matcher's


def serves(offer: OpenOffer, mask: int, rounds: list[str], capacity: int) -> bool:
    """The offer covers the rounds, with a place left in each."""
    if offer.rounds_mask & mask != mask:
        return False
    slots = offer.slots
    for d in rounds:  # a loop, not all() over a generator: a pass asks 200,000 times
        if len(slots[d]) >= capacity:
            return False
    return True


class Matcher:
    """The offers of one department, in memory, and the needs' choices among them."""

    def __init__(self, offers: list[OpenOffer], dates: list[str], capacity: int,
                 tried: set[tuple[int, int]]) -> None:
        self.dates, self.capacity, self.tried = dates, capacity, tried
        self.offers = offers  # in waiting order
        self._buckets: list[dict[Any, list[OpenOffer]]] | None = None
        # Offers only fill up during a pass: once an offer cannot serve a set of rounds, it
        # never will again. So each (tier, key, rounds) list is searched from the first
        # offer that still can, instead of from its start (8 million looks -> 0.2 million
        # on 50,000 needs and offers).
        self.starts: dict[tuple[int, Any, int], int] = {}
        self.rounds: dict[int, list[str]] = {}  # a mask's round dates

    @property
    def buckets(self) -> list[dict[Any, list[OpenOffer]]]:
        """The offers by tier and key, in waiting order; made when the greedy matcher is
        first needed (after a plan, seldom)."""
        if self._buckets is None:
            self._buckets = [defaultdict(list) for _ in range(TIERS)]
            for offer in self.offers:
                for bucket, key in zip(self._buckets, offer.keys(), strict=True):
                    if key is not None:
                        bucket[key].append(offer)
        return self._buckets

    def _in_tier(self, tier: int, key: Any, need: OpenRequest,
                 rounds: list[str]) -> OpenOffer | None:
        # The pass's inner loop (0.2 million looks): names bound locally, no method calls.
        offers_here, mask, capacity = self.buckets[tier][key], need.rounds_mask, self.capacity
        first = self.starts.get((tier, key, mask), 0)
        while first < len(offers_here) and not serves(offers_here[first], mask, rounds,
                                                      capacity):
            first += 1
        self.starts[(tier, key, mask)] = first
        tried, need_id, user_id = self.tried, need.id, need.user_id
        wider = None  # a holder of more rounds than the need's: kept for a need of them all
        for index in range(first, len(offers_here)):
            offer = offers_here[index]
            if (serves(offer, mask, rounds, capacity)
                    and (offer.user_id is None or offer.user_id != user_id)
                    and (need_id, offer.id) not in tried):
                if offer.rounds_mask == mask:
                    return offer
                wider = wider or offer
        return wider

    def by_id(self) -> dict[int, OpenOffer]:
        return {offer.id: offer for offer in self.offers}

    def room(self, offer: OpenOffer) -> tuple[int, ...]:
        """The offer's places left in each of the campaign's rounds (0 outside its own)."""
        return tuple(max(0, self.capacity - len(offer.slots[d])) if offer.rounds_mask >> i & 1
                     else 0 for i, d in enumerate(self.dates))

    def _rounds_of(self, mask: int) -> list[str]:
        """A mask's round dates, worked out once a pass."""
        rounds = self.rounds.get(mask)
        if rounds is None:
            rounds = self.rounds[mask] = masked(self.dates, mask)
        return rounds

    def take(self, need: OpenRequest, offer: OpenOffer) -> Made | None:
        """A planned pair, if the rules still allow it now."""
        rounds = self._rounds_of(need.rounds_mask)
        if (not serves(offer, need.rounds_mask, rounds, self.capacity)
                or (offer.user_id is not None and offer.user_id == need.user_id)
                or (need.id, offer.id) in self.tried):
            return None
        return Made(need, offer, self._seat(offer, rounds), True)

    def is_full(self, offer: OpenOffer) -> bool:
        """No place left in any of the offer's rounds. A loop, not `room`'s tuple: a pass
        asks it of each of its 50,000 matches (0.44 s -> 0.05 s)."""
        slots, capacity, mask = offer.slots, self.capacity, offer.rounds_mask
        for i, d in enumerate(self.dates):
            if mask >> i & 1 and len(slots[d]) < capacity:
                return False
        return True

    @staticmethod
    def _seat(offer: OpenOffer, rounds: list[str]) -> list[tuple[str, int]]:
        taken = []
        for d in rounds:
            slot = free_slot(offer.slots[d])
            offer.slots[d].add(slot)
            taken.append((d, slot))
        return taken

    def match(self, need: OpenRequest) -> Made | None:
        """The need's best holder, its places taken; None if no offer serves it."""
        rounds = self._rounds_of(need.rounds_mask)
        for tier, (bucket, key) in enumerate(zip(self.buckets, need.keys(), strict=True)):
            if key is None or key not in bucket:
                continue
            chosen = self._in_tier(tier, key, need, rounds)
            if chosen is not None:
                return Made(need, chosen, self._seat(chosen, rounds))
        return None

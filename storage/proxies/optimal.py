"""The exact pass's plan for one department: the most needs matched, then the closest.

A department is a tree: polling stations in their communes; a commune's requests that carry
a constituency (the phone bank's file knows it) under that constituency; all of it under the
department. Where a need and a holder meet in that tree is their tier (same station, commune,
constituency, department), so a matching is a flow up the tree: at each node the needs and
holders come up from below are matched there or passed up.

Holders are counted by their room left in each round, their "state": a two-round need takes
a place in both rounds of one holder, and a holder with room in both rounds who carries a
one-round vote goes on with room in the other. That is why this is an integer program and
not a max-flow (one spent on one-round needs, a two-round holder leaves a two-round need
alone). The objectives are lexicographic: the number of matches, then same-station matches,
then same-commune, then same-constituency; HiGHS solves them in turn. The linear relaxation
is solved first, and the integer program only if its answer is fractional.

The model counts, it does not name: needs with the same rounds (and constituency) at a node
are alike, and so are holders with the same room. Names are given afterwards, bottom-up,
waiting longest first, skipping pairs that may not meet (a person and themself, a pair
proposed before); what such a pair leaves unmatched goes up the tree, and at the end to the
greedy pass, which the caller runs on whatever is left.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, partial
from typing import Any, NamedTuple, Protocol

import numpy as np

from storage.proxies.lexicographic import (
    COMMUNE,
    CONSTITUENCY,
    DEPARTMENT,
    INTEGRAL,
    STATION,
    Model,
    solve,
)


class Side(Protocol):
    """A need or a holder as the plan reads it: where, and for a need its rounds (bit i:
    round i)."""

    @property
    def commune_insee(self) -> str: ...

    @property
    def station(self) -> str: ...

    @property
    def constituency(self) -> str | None: ...

    @property
    def rounds_mask(self) -> int: ...


class Outcome(StrEnum):
    LINEAR = "linear"  # the relaxation's answer was whole
    INTEGER = "integer"  # the integer program was needed
    NOTHING = "nothing"  # nobody to match here


@dataclass(frozen=True, slots=True)
class Plan:
    pairs: list[tuple[int, int]]  # (need index, holder index)
    outcome: Outcome


class Kind(NamedTuple):
    """A kind of thing at a node: a need (its rounds) or a holder (its room per round), with
    the constituency it goes up to from its commune ("" above the communes, or unknown)."""

    holder: bool
    mask: int  # a need's rounds
    room: tuple[int, ...]  # a holder's places left per round
    attr: str  # "" when unknown, and above the communes
    # A need or holder of a pair that may not meet is a kind of its own, so that the model
    # leaves that pair out and stays exact: its index; -1 for everyone else.
    who: int = -1

    def above(self) -> Kind:
        return self._replace(attr="")


@cache
def _fits(mask: int, room: tuple[int, ...]) -> bool:
    return all(room[i] > 0 for i in range(len(room)) if mask >> i & 1)


@cache
def _after(mask: int, room: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(r - (mask >> i & 1) for i, r in enumerate(room))


@dataclass
class _Node:
    level: int
    parent: Callable[[Kind], tuple[_Node, Kind]] | None = None
    # What is there of each kind: a constant count plus terms (column, coefficient), the
    # matches below and here that took or gave some.
    counts: dict[Kind, int] = field(default_factory=lambda: defaultdict(int))
    flows: dict[Kind, list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list))
    members: dict[Kind, list[Any]] = field(default_factory=lambda: defaultdict(list))
    matches: list[tuple[int, Kind, Kind]] = field(default_factory=list)  # (column, need, holder)


def _room_reachable(needs: list[int], rooms: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Every room a holder here can have: what came, and what carrying these needs leaves."""
    seen, todo = set(rooms), list(rooms)
    while todo:
        room = todo.pop()
        for mask in needs:
            if _fits(mask, room):
                left = _after(mask, room)
                if any(left) and left not in seen:
                    seen.add(left)
                    todo.append(left)
    return sorted(seen, key=lambda r: (-sum(r), r))


def _build(node: _Node, model: Model, apart: frozenset[tuple[int, int]]) -> None:
    """The node's matches, and what it leaves for its parent; no column where nothing can
    meet. What a node leaves of a kind is not a column of its own but the sum of what came
    and what was matched (the row keeps it at 0 or more): half the columns, the same rows."""
    kinds = node.counts.keys() | node.flows.keys()
    if len({k.holder for k in kinds}) < 2:
        _pass_up(node, kinds)  # most stations: only needs, or only holders
        return
    need_kinds = sorted(k for k in kinds if not k.holder)
    masks = sorted({k.mask for k in need_kinds})
    holders: dict[tuple[str, int], set[tuple[int, ...]]] = defaultdict(set)
    for k in kinds:
        if k.holder:
            holders[(k.attr, k.who)].add(k.room)
    # A room reached by carrying someone keeps the holder's constituency and identity.
    holder_kinds = [Kind(True, 0, room, attr, who)
                    for (attr, who), rooms in sorted(holders.items())
                    for room in _room_reachable(masks, sorted(rooms))]
    pairs = [(n, h) for n in need_kinds for h in holder_kinds
             if _fits(n.mask, h.room) and (n.who, h.who) not in apart]
    if not pairs:
        _pass_up(node, kinds)
        return
    for n, h in pairs:
        col = model.column(node.level)
        node.matches.append((col, n, h))
        # What is left of each kind: the need and the room taken, the room left given.
        node.flows[n].append((col, -1.0))
        node.flows[h].append((col, -1.0))
        left = h._replace(room=_after(n.mask, h.room))
        if any(left.room):
            node.flows[left].append((col, 1.0))
    for kind in node.flows.keys() | node.counts.keys():
        # What is left, count + terms, is 0 or more: -terms <= count.
        model.row([(col, -value) for col, value in node.flows[kind]],
                  float(node.counts.get(kind, 0)))
    _pass_up(node, node.flows.keys() | node.counts.keys())


def _pass_up(node: _Node, kinds: Iterable[Kind]) -> None:
    """What the node leaves of each kind goes to its parent: counts and terms."""
    if node.parent is None:
        return
    for kind in kinds:
        parent, theirs = node.parent(kind)
        if kind in node.counts:
            parent.counts[theirs] += node.counts[kind]
        if kind in node.flows:
            parent.flows[theirs] += node.flows[kind]


def _into(parent: _Node, kind: Kind) -> tuple[_Node, Kind]:
    return parent, kind


def _above_commune(root: _Node, constituencies: dict[str, _Node],
                   kind: Kind) -> tuple[_Node, Kind]:
    """Where a commune's kind goes up: its constituency's node (made when first met), or
    the department's when its constituency is unknown."""
    if not kind.attr:
        return root, kind
    place = constituencies.get(kind.attr)
    if place is None:
        place = constituencies[kind.attr] = _Node(CONSTITUENCY, partial(_into, root))
    return place, kind.above()


def _by_place(needs: Sequence[Side], holders: Sequence[Side], rooms: Sequence[tuple[int, ...]],
              apart: frozenset[tuple[int, int]]) -> dict[str, dict[str, list[tuple[Kind, int]]]]:
    """Requests by commune and station, as (kind, index); holders with no room left out."""
    alone_needs, alone_holders = {i for i, _ in apart}, {j for _, j in apart}
    at: dict[str, dict[str, list[tuple[Kind, int]]]] = defaultdict(lambda: defaultdict(list))
    kinds: dict[tuple[Any, ...], Kind] = {}  # a few dozen kinds for thousands of requests

    def kind_of(*fields: Any) -> Kind:
        kind = kinds.get(fields)
        if kind is None:
            kind = kinds[fields] = Kind(*fields)
        return kind

    for i, need in enumerate(needs):
        at[need.commune_insee][need.station].append(
            (kind_of(False, need.rounds_mask, (), need.constituency or "",
                     i if i in alone_needs else -1), i))
    for j, (holder, room) in enumerate(zip(holders, rooms, strict=True)):
        if any(room):
            at[holder.commune_insee][holder.station].append(
                (kind_of(True, 0, tuple(room), holder.constituency or "",
                         j if j in alone_holders else -1), j))
    return at


class Department:
    """One department's model, built (in Python) apart from its solving (in HiGHS, which
    lets go of the GIL): the pass builds the next department while HiGHS solves this one."""

    def __init__(self, needs: Sequence[Side], holders: Sequence[Side],
                 rooms: Sequence[tuple[int, ...]],
                 apart: Collection[tuple[int, int]] = ()) -> None:
        apart = frozenset(apart)
        self.root = _Node(DEPARTMENT)
        self.constituencies: dict[str, _Node] = {}
        self.stations: list[_Node] = []
        self.communes: list[_Node] = []
        # Links up are functions of the nodes above, not methods of the department: a
        # node naming its department would be a cycle, and every department's tree would
        # live until the cyclic collector ran, which the pass turns off while it runs
        # (`full_pass._no_collection`; the 108 departments of a national pass, 390,000
        # objects, cost 0.4 s to collect after it).
        self._above_commune = partial(_above_commune, self.root, self.constituencies)
        for by_station in _by_place(needs, holders, rooms, apart).values():
            self._place(by_station)
        self.model = Model()
        self.model.needs = len(needs)
        # Constituencies are met as the communes pass up: they come after all the communes.
        for node in [*self.stations, *self.communes]:
            _build(node, self.model, apart)
        for node in [*self.constituencies.values(), self.root]:
            _build(node, self.model, apart)
        self.order = [*self.stations, *self.communes, *self.constituencies.values(),
                      self.root]

    def _place(self, by_station: dict[str, list[tuple[Kind, int]]]) -> None:
        """One commune's requests into the tree. A commune with one side only (needs only,
        or holders only) is no node, nor is such a station: their requests go up at once.
        On a national instance nine stations in ten, and most communes, are such."""
        if len({kind.holder for here in by_station.values() for kind, _ in here}) < 2:
            for here in by_station.values():
                for kind, index in here:
                    node, theirs = self._above_commune(kind)
                    node.counts[theirs] += 1
                    node.members[theirs].append(index)
            return
        commune: _Node | None = None
        parent: Callable[[Kind], tuple[_Node, Kind]] = self._above_commune
        if len(by_station) > 1:
            # With one station, what it leaves nobody else in the commune could meet: its
            # node goes up as the commune would, and there is no commune node.
            commune = _Node(COMMUNE, self._above_commune)
            self.communes.append(commune)
            parent = partial(_into, commune)
        for here in by_station.values():
            if len({kind.holder for kind, _ in here}) == 2:
                node = _Node(STATION, parent)
                self.stations.append(node)
            else:
                assert commune is not None  # a lone station here has both sides
                node = commune
            for kind, index in here:
                node.counts[kind] += 1
                node.members[kind].append(index)

    def solve(self, time_limit: float) -> tuple[np.ndarray[Any, Any], Outcome]:
        """The counts of the best matching: the relaxation's, if whole, else the integer
        program's. Raises SolverFailed when HiGHS gives no optimum in `time_limit`."""
        if not self.model.tier:
            return np.zeros(0, dtype=np.int64), Outcome.NOTHING
        started = time.monotonic()
        values = solve(self.model, False, time_limit)
        outcome = Outcome.LINEAR
        if np.abs(values - np.round(values)).max() > INTEGRAL:
            values = solve(self.model, True, time_limit - (time.monotonic() - started))
            outcome = Outcome.INTEGER
        return np.round(values).astype(np.int64), outcome

    def plan(self, solved: tuple[np.ndarray[Any, Any], Outcome]) -> Plan:
        taken, outcome = solved
        return Plan(_name(self.order, taken), outcome)


def plan_department(needs: Sequence[Side], holders: Sequence[Side],
                    rooms: Sequence[tuple[int, ...]], apart: Collection[tuple[int, int]] = (),
                    time_limit: float = 2.0) -> Plan:
    """The pairs of one department's best matching. `needs` and `holders` in waiting order;
    `rooms[j]`: holder j's places left in each round; `apart`: the pairs (need i, holder j)
    that may not meet. Raises SolverFailed when HiGHS gives no optimum in `time_limit`."""
    department = Department(needs, holders, rooms, apart)
    return department.plan(department.solve(time_limit))


def _name(order: list[_Node], taken: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    """The counts made into pairs, bottom-up, waiting longest first (members stay in index
    order, which is waiting order)."""
    pairs: list[tuple[int, int]] = []
    for node in order:
        for members in node.members.values():
            members.sort()
        # Larger rooms first: a holder left with room by one match may take the next.
        for col, need_kind, holder_kind in sorted(node.matches, key=lambda m: -sum(m[2].room)):
            wanted = int(taken[col])
            needs, holders = node.members[need_kind], node.members[holder_kind]
            # Counts the model kept: pairs that may not meet are kinds of their own.
            assert len(needs) >= wanted <= len(holders), "the plan counts what is there"
            chosen = holders[:wanted]
            pairs += zip(needs[:wanted], chosen, strict=True)
            del needs[:wanted], holders[:wanted]
            left = _after(need_kind.mask, holder_kind.room)
            if any(left):
                rest = node.members[holder_kind._replace(room=left)]
                for j in chosen:
                    bisect.insort(rest, j)
        if node.parent is not None:
            for kind, members in node.members.items():
                if members:
                    parent, theirs = node.parent(kind)
                    parent.members[theirs] += members
    return pairs

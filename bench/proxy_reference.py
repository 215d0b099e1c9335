"""What the proxy pass is measured against, computed from the generated requests alone, not
from the pass: the most matches possible (a closed form), the most same-station matches
among those (an integer program of its own, pair by pair at the stations), and the greedy
pass of old on the same data (the fallback's matcher, in memory).

The maximum, per department (any need may meet any holder there), with two rounds: a holder
offering both rounds carries c votes of each, c the campaign's capacity. If y two-round
needs are matched (each takes a place of each round of one two-round holder), the one-round
needs take what places are left:
    y + min(n1, c*(o1 + o3) - y) + min(n2, c*(o2 + o3) - y),   0 <= y <= min(n3, c*o3)
(n1, n2, n3: needs of the first, second, both rounds; o1, o2, o3: holders likewise), and the
maximum is the best y.

The same-station optimum, per department: a column for each need and holder of one station
who could meet, and for each holder and kind of need the number of such needs it carries
from anywhere in the department; the holders' places per round and the needs' counts bound
them, the matches must reach the maximum, and the same-station columns are maximised.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from storage.models import ProxyKind

FIRST, SECOND, BOTH = 0b01, 0b10, 0b11


@dataclass
class Reference:
    maximum: int = 0
    station_optimum: int = 0
    greedy_matches: int = 0
    greedy_tiers: dict[str, int] = field(default_factory=dict)


def closed_form_maximum(needs: Counter[int], holders: Counter[int], capacity: int) -> int:
    n1, n2, n3 = needs[FIRST], needs[SECOND], needs[BOTH]
    o1, o2, o3 = holders[FIRST], holders[SECOND], holders[BOTH]
    first, second = capacity * (o1 + o3), capacity * (o2 + o3)
    return max(y + min(n1, first - y) + min(n2, second - y)
               for y in range(min(n3, capacity * o3) + 1))


def station_optimum(needs: Sequence[tuple[str, int]], holders: Sequence[tuple[str, int]],
                    capacity: int, maximum: int) -> int:
    """needs: (station key, rounds mask); holders: (station key, rounds offered)."""
    if maximum == 0:
        return 0
    rooms = [tuple(capacity if mask >> r & 1 else 0 for r in range(2)) for _, mask in holders]
    by_station: dict[str, list[int]] = defaultdict(list)
    for j, (station, _mask) in enumerate(holders):
        by_station[station].append(j)
    pairs = [(i, j) for i, (station, mask) in enumerate(needs) for j in by_station[station]
             if all(rooms[j][r] for r in range(2) if mask >> r & 1)]
    masks = sorted({mask for _, mask in needs})
    counts = Counter(mask for _, mask in needs)
    carried = [(j, a) for j in range(len(holders)) for a in masks
               if all(rooms[j][r] for r in range(2) if a >> r & 1)]
    columns = len(pairs) + len(carried)
    rows: list[list[tuple[int, float]]] = []
    upper: list[float] = []
    lower: list[float] = []

    def row(terms: list[tuple[int, float]], low: float, high: float) -> None:
        rows.append(terms)
        lower.append(low)
        upper.append(high)

    by_need: dict[int, list[int]] = defaultdict(list)
    for col, (i, _j) in enumerate(pairs):
        by_need[i].append(col)
    for cols in by_need.values():
        row([(c, 1.0) for c in cols], -highspy.kHighsInf, 1.0)
    for a in masks:
        row([(c, 1.0) for c, (i, _j) in enumerate(pairs) if needs[i][1] == a]
            + [(len(pairs) + k, 1.0) for k, (_j, b) in enumerate(carried) if b == a],
            -highspy.kHighsInf, float(counts[a]))
    places: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
    for col, (i, j) in enumerate(pairs):
        for r in range(2):
            if needs[i][1] >> r & 1:
                places[(j, r)].append((col, 1.0))
    for k, (j, a) in enumerate(carried):
        for r in range(2):
            if a >> r & 1:
                places[(j, r)].append((len(pairs) + k, 1.0))
    for (j, r), terms in places.items():
        row(terms, -highspy.kHighsInf, float(rooms[j][r]))
    row([(c, 1.0) for c in range(columns)], float(maximum), highspy.kHighsInf)

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = columns, len(rows)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.array([1.0] * len(pairs) + [0.0] * len(carried))
    lp.col_lower_ = np.zeros(columns)
    lp.col_upper_ = np.full(columns, highspy.kHighsInf)
    lp.row_lower_ = np.array(lower)
    lp.row_upper_ = np.array(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array([0, *itertools.accumulate(len(t) for t in rows)],
                                   dtype=np.int32)
    lp.a_matrix_.index_ = np.array([c for t in rows for c, _ in t], dtype=np.int32)
    lp.a_matrix_.value_ = np.array([v for t in rows for _, v in t])
    lp.integrality_ = [highspy.HighsVarType.kInteger] * columns
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal, h.getModelStatus()
    return round(h.getInfo().objective_function_value)


def reference(requests: Sequence, capacity: int) -> Reference:
    """The maximum and the same-station optimum over every department, from the requests
    (bench.proxies.Request, fresh: no place taken yet)."""
    needs: dict[str, list[tuple[str, int]]] = defaultdict(list)
    holders: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in requests:
        side = needs if r.kind is ProxyKind.NEED else holders
        side[r.place.department].append((f"{r.place.commune_insee}/{r.place.station}", r.mask))
    result = Reference()
    for department, here in needs.items():
        there = holders.get(department, [])
        most = closed_form_maximum(Counter(m for _, m in here), Counter(m for _, m in there),
                                   capacity)
        result.maximum += most
        result.station_optimum += station_optimum(here, there, capacity, most)
    return result


def greedy(requests: Sequence, dates: list[str], capacity: int) -> tuple[int, dict[str, int]]:
    """The greedy pass of old on the same requests, in memory: needs waiting longest first,
    each the first holder of its best tier (now, within a tier, one of its own rounds
    first). Its matches and their tiers."""
    from storage.proxies.greedy import Matcher, OpenOffer, OpenRequest

    ordered = sorted(requests, key=lambda r: r.created_at)

    def row(serial: int, r: Any) -> tuple[Any, ...]:
        return (serial, r.person.user_id, r.place.commune_insee, r.place.station,
                r.place.constituency, r.place.department, r.mask)

    needs = [OpenRequest(*row(k, r)) for k, r in enumerate(ordered) if r.kind is ProxyKind.NEED]
    offers = [OpenOffer(*row(k, r)) for k, r in enumerate(ordered) if r.kind is ProxyKind.OFFER]
    matcher = Matcher(offers, dates, capacity, set())
    tiers: Counter[str] = Counter()
    for need in needs:
        made = matcher.match(need)
        if made is not None:
            tiers[tier_of(need, made.offer)] += 1
    return sum(tiers.values()), dict(tiers)


def tier_of(need: Any, offer: Any) -> str:
    if (need.commune_insee, need.station) == (offer.commune_insee, offer.station):
        return "station"
    if need.commune_insee == offer.commune_insee:
        return "commune"
    if need.constituency is not None and need.constituency == offer.constituency:
        return "constituency"
    return "department"

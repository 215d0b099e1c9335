"""What the pass reads, some departments at a time: their open requests waiting longest
first, the places their holders have given, the pairs proposed before. Read twice: for the
plan, outside any transaction, and again inside the write, where the plan is checked
against the rows as they are then."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.driver import SQL, Tx
from storage.models import Campaign, ProxyKind
from storage.proxies.greedy import Matcher, OpenOffer, OpenRequest
from storage.proxies.rules import NEED, OFFER, OPEN, round_dates
from storage.rows import columns

# The campaign's departments with both needs and holders waiting, and their open requests
# (on SQLite through the index of open requests, not the campaign's: `+campaign_id`).
_DEPARTMENTS = (
    "SELECT department, count(*) FROM proxy_request WHERE kind IN "
    f"({NEED}, {OFFER}) AND status = {OPEN} AND {{campaign}} = :campaign_id "
    f"GROUP BY department HAVING max(kind) = {OFFER} AND min(kind) = {NEED} "
    "ORDER BY department")
DEPARTMENTS = SQL.dialects(_DEPARTMENTS.format(campaign="+campaign_id"),
                           _DEPARTMENTS.format(campaign="campaign_id"))
# Through the departments' index of open requests; on SQLite the campaign's term is no
# index term (`matching.CANDIDATES` says why: here it read every offer of the campaign).
_IN = {"sqlite": "IN (SELECT value FROM json_each(:departments))",
       "postgres": "= ANY(CAST(:departments AS TEXT[]))"}
_OPEN_IN = (f"SELECT {columns(OpenRequest)}, kind FROM proxy_request WHERE kind IN ({NEED}, "
            f"{OFFER}) AND department {{within}} AND status = {OPEN} "
            "AND {campaign} = :campaign_id ORDER BY created_at, id")
_SLOTS_IN = (
    "SELECT s.offer_id, s.round_date, s.slot FROM proxy_slot s JOIN proxy_request o "
    f"ON o.id = s.offer_id WHERE o.kind = {OFFER} AND o.department {{within}} "
    f"AND o.status = {OPEN} AND {{campaign}} = :campaign_id")
_TRIED_IN = (
    "SELECT m.need_id, m.offer_id FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
    f"WHERE n.kind = {NEED} AND n.department {{within}} AND n.status = {OPEN} "
    "AND {campaign} = :campaign_id")
_OPEN_NOW, _SLOTS, _TRIED = (
    SQL.dialects(text.format(campaign=f"+{alias}campaign_id", within=_IN["sqlite"]),
                 text.format(campaign=f"{alias}campaign_id", within=_IN["postgres"]))
    for text, alias in ((_OPEN_IN, ""), (_SLOTS_IN, "o."), (_TRIED_IN, "n.")))
_NEED, _OFFER = ProxyKind.NEED.value, ProxyKind.OFFER.value


@dataclass
class Area:
    """Some departments' open requests, the needs waiting longest first, and their
    holders."""

    departments: list[str]
    needs: list[OpenRequest]
    matcher: Matcher


@dataclass
class Planned:
    """An area's plan: the pairs (need id, offer id) of each department's best matching,
    and the departments left to the greedy matcher, with why."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    greedy: dict[str, str] = field(default_factory=dict)  # department: why
    # The needs the plan decided: those it left without a holder had none to have.
    considered: set[int] = field(default_factory=set)


def _requests(rows: Iterable[Sequence[Any]]) -> tuple[list[OpenRequest], list[OpenOffer]]:
    """`_OPEN_NOW`'s rows as needs and offers, in their order."""
    rows = list(rows)
    return ([OpenRequest(*row[:7]) for row in rows if row[7] == _NEED],
            [OpenOffer(*row[:7]) for row in rows if row[7] == _OFFER])


async def read_area(tx: Tx, campaign: Campaign, departments: list[str]) -> Area:
    needs, offers = _requests(await tx.all(_OPEN_NOW, campaign_id=campaign.id,
                                           departments=tx.array(departments)))
    return Area(departments, needs, await _matcher(tx, campaign, departments, offers))


async def _matcher(tx: Tx, campaign: Campaign, departments: list[str],
                   offers: list[OpenOffer]) -> Matcher:
    """The holders with the places they have given, and the pairs proposed before."""
    where = {"campaign_id": campaign.id, "departments": tx.array(departments)}
    by_id = {offer.id: offer for offer in offers}
    for offer in offers:
        offer.slots.clear()
    for oid, round_date, slot in await tx.all(_SLOTS, **where):
        if int(oid) in by_id:
            by_id[int(oid)].slots[str(round_date)].add(int(slot))
    tried = {(int(n), int(o)) for n, o in await tx.all(_TRIED, **where)}
    return Matcher(offers, round_dates(campaign), campaign.proxy_capacity, tried)


async def read_again(tx: Tx, campaign: Campaign, area: Area, planned: Planned) -> Area:
    """The same departments as they are now: the snapshot's requests still open, their person
    as now (a request taken on the phone may be someone's since: storage.contacts.links),
    then the others (new, or open again after a decline), and every place taken. A pair
    planned with a request that is another one now is void, its need the greedy's."""
    open_now = {int(row[0]): row for row in await tx.all(
        _OPEN_NOW, campaign_id=campaign.id, departments=tx.array(area.departments))}
    kept: set[int] = set()
    for request, kind in ([(n, _NEED) for n in area.needs]
                          + [(o, _OFFER) for o in area.matcher.offers]):
        row = open_now.get(request.id)
        if row is not None and row[7] == kind and tuple(row[2:7]) == request.place():
            request.user_id = None if row[1] is None else int(row[1])
            kept.add(request.id)
    new = [row for i, row in open_now.items() if i not in kept]
    snapshot = {r.id for r in (*area.needs, *area.matcher.offers)}
    if replaced := {int(row[0]) for row in new} & snapshot:
        planned.pairs = [(n, -1 if o in replaced else o) for n, o in planned.pairs
                         if n not in replaced]
        planned.considered -= replaced
    new_needs, new_offers = _requests(new)
    needs = [n for n in area.needs if n.id in kept] + new_needs
    offers = [o for o in area.matcher.offers if o.id in kept] + new_offers
    return Area(area.departments, needs,
                await _matcher(tx, campaign, area.departments, offers))

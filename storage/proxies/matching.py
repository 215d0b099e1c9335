"""Matching as it happens: a new need gets its best free holder at once, a new offer the
needs around it; both run inside one lock, so the best candidate a matcher reads is still
free when it writes.

The best holder: same polling station, then same commune, then constituency, then
department; within a tier, one offering exactly the need's rounds, then the one waiting
longest; never the need's own person, never a
holder this need was proposed before, and only one with a place left in each of the
need's rounds (`proxy_slot`, whose primary key stops two needs taking the same place).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import Campaign
from storage.proxies.notices import Proposed, queue_proposals
from storage.proxies.rules import (
    MATCHED,
    NEED,
    OFFER,
    OPEN,
    PROPOSAL_HOURS,
    PROPOSED,
    ROOM_LEFT,
    ROUND_DATE,
    ROUNDS,
    masked,
    run_of_dates,
    stored_dates,
)
from storage.rows import columns, reader

# Matching operations queue one behind the other: SQLite's writer lock, an advisory lock
# on PostgreSQL. Its key is a pair: pairs are a space of their own, apart from the single
# keys of the phone bank's lock on a volunteer (with one key, volunteer 7270001 taking a
# card held up every match of the campaign).
SERIALIZE = SQL.dialects("SELECT 1", "SELECT pg_advisory_xact_lock(7270, 1)")
# The pass's waves share it among themselves (`full_pass`: their departments are apart,
# and matches never cross departments), and one pass runs at a time: two passes' waves
# would plan the same needs.
SERIALIZE_WAVE = SQL.dialects("SELECT 1", "SELECT pg_advisory_xact_lock_shared(7270, 1)")
ONE_PASS = SQL.of("SELECT pg_advisory_xact_lock(7270, 2)")  # PostgreSQL only


@dataclass(frozen=True)
class _Need:
    """An open need, with its own campaign's rounds and rule: a campaign loaded later
    changes neither."""

    id: int
    user_id: int | None
    commune_insee: str
    station: str
    constituency: str | None
    department: str
    rounds_mask: int
    campaign_id: int
    rounds: list[dict[str, str]] | None
    proxy_capacity: int


_NEED = SQL.of(
    f"SELECT {columns(_Need)} FROM (SELECT n.id, n.user_id, n.commune_insee, n.station, "
    "n.constituency, n.department, n.rounds_mask, n.campaign_id, c.rounds, c.proxy_capacity "
    "FROM proxy_request n JOIN campaign c ON c.id = n.campaign_id "
    f"WHERE n.id = :id AND n.kind = {NEED} AND n.status = {OPEN}) AS need")
_READ_NEED = reader(_Need)


@dataclass(frozen=True)
class _Candidate:
    id: int
    user_id: int | None


# A holder's place in each of the need's rounds (`ROUNDS`: the need's round dates).
_HAS_ROOM = (
    "NOT EXISTS (SELECT 1 FROM rounds r WHERE (SELECT count(*) FROM proxy_slot s "
    f"WHERE s.offer_id = o.id AND s.round_date = {ROUND_DATE}) >= :capacity)")
_CANDIDATE = (
    f"{ROUNDS}SELECT {columns(_Candidate, 'o')} FROM proxy_request o WHERE o.kind = {OFFER} "
    f"AND o.status = {OPEN} AND {{campaign}} = :campaign_id AND {{tier}} AND {{rounds}} "
    "AND (o.user_id IS NULL OR o.user_id <> coalesce(CAST(:user_id AS BIGINT), 0)) "
    "AND NOT EXISTS (SELECT 1 FROM proxy_match m WHERE m.need_id = :need_id "
    f"AND m.offer_id = o.id) AND {_HAS_ROOM} ORDER BY o.created_at, o.id LIMIT 1")
# Within a tier, a holder of exactly the need's rounds first: one of more rounds is kept for
# a need of them all (on a national instance, 47,306 -> 48,011 matches). Two statements,
# the exact holders then the wider ones, not one ordered by the rounds: each stops at its
# first holder in waiting order, where a sort would read every holder of the tier, each
# with its places counted.
_ROUNDS = ("o.rounds_mask = :mask",
           "(o.rounds_mask & :mask) = :mask AND o.rounds_mask <> :mask")
# The tiers, closest first: the need's keys each compares, and its statement.
_TIERS = ((("insee", "station"), "o.commune_insee = :insee AND o.station = :station"),
          (("insee",), "o.commune_insee = :insee"),
          (("constituency",), "o.constituency = :constituency"),
          (("department",), "o.department = :department"))
# On SQLite the campaign's term is no index term (`+o.campaign_id`): without statistics it
# ranked the campaign's index as high as the commune's for the commune tier, and read every
# open offer of the campaign through it. PostgreSQL has statistics, which an expression
# would lose (its estimates, then its plans, went wrong).
CANDIDATES: tuple[tuple[tuple[str, ...], SQL], ...] = tuple(
    (keys, SQL.dialects(_CANDIDATE.format(tier=tier, rounds=rounds, campaign="+o.campaign_id"),
                        _CANDIDATE.format(tier=tier, rounds=rounds, campaign="o.campaign_id")))
    for keys, tier in _TIERS for rounds in _ROUNDS)
_READ_CANDIDATE = reader(_Candidate)

_INSERT_MATCH = SQL.of(
    "INSERT INTO proxy_match (id, need_id, offer_id, rounds_mask, status, proposed_at, "
    f"expires_at) VALUES (:id, :need_id, :offer_id, :rounds_mask, {PROPOSED}, :proposed_at, "
    ":expires_at)")
_INSERT_SLOT = SQL.of("INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) "
                     "VALUES (:offer_id, :round_date, :slot, :match_id)")
_NEED_MATCHED = SQL.of(f"UPDATE proxy_request SET status = {MATCHED} WHERE id = :id")
# An offer whose every place is taken leaves the holder search (`rules.ROOM_LEFT`).
_FULL = (f"{ROUNDS}UPDATE proxy_request SET status = {MATCHED} WHERE {{ids}} "
         f"AND kind = {OFFER} AND status = {OPEN} AND NOT {ROOM_LEFT}")
OFFER_FULL = SQL.of(_FULL.format(ids="id = :id"))
_SLOTS_USED = SQL.of("SELECT slot FROM proxy_slot WHERE offer_id = :offer_id "
                     "AND round_date = :round_date")
# Match ids are chosen before inserting, so that a whole pass inserts in one statement:
# one past the last on SQLite, whose writers take turns; on PostgreSQL a block of the
# sequence, taken at once (a nextval for each of 50,000 matches took a third of a second).
# Every match is inserted holding the matching lock (SERIALIZE), so no other writer takes
# from the sequence between the two halves of the statement; the pass's waves, which share
# the lock, take their blocks one at a time (`full_pass._Writes`).
_NEXT_MATCH_IDS = SQL.dialects(
    "SELECT coalesce(max(id), 0) + :count FROM proxy_match",
    "SELECT setval(pg_get_serial_sequence('proxy_match', 'id'), "
    "nextval(pg_get_serial_sequence('proxy_match', 'id')) + :count - 1)")


async def next_match_ids(tx: Tx, count: int) -> list[int]:
    """Ids for `count` new matches; the caller holds the matching lock (a pass's wave, its
    pass's numbering lock too)."""
    row = await tx.one(_NEXT_MATCH_IDS, count=count)
    assert row is not None
    last = int(row[0])
    return list(range(last - count + 1, last + 1))


def free_slot(used: set[int]) -> int:
    """The lowest slot number free (slots freed by a decline leave holes)."""
    if not used:  # nearly always, in a pass: most holders carry one vote a round
        return 1
    return next(n for n in range(1, len(used) + 2) if n not in used)


async def match_need(db: Database, campaign: Campaign | None, need_id: int,
                     now: datetime | None = None) -> int | None:
    """The best free holder for this need, at once; both sides' proposals are queued with
    the match. Returns the new match's id, or None (no holder free yet, or the need is not
    open). The need's own campaign's rounds count."""
    del campaign  # the need's own campaign is read with it
    async with db.fast_write() as tx:
        await tx.one(SERIALIZE)
        return await match_need_in(tx, need_id, now or clock.utcnow())


async def _best_holder(tx: Tx, need: _Need, dates: list[str]) -> _Candidate | None:
    keys: dict[str, Any] = {"insee": need.commune_insee, "station": need.station,
                            "constituency": need.constituency, "department": need.department}
    for tier_keys, statement in CANDIDATES:
        if any(keys[k] is None for k in tier_keys):
            continue
        row = await tx.one(statement, **{k: keys[k] for k in tier_keys},
                           campaign_id=need.campaign_id, mask=need.rounds_mask,
                           user_id=need.user_id, need_id=need.id,
                           capacity=need.proxy_capacity, **run_of_dates(dates))
        if row is not None:
            return _READ_CANDIDATE(row)
    return None


async def match_need_in(tx: Tx, need_id: int, now: datetime) -> int | None:
    """match_need inside a transaction that holds the matching lock (SERIALIZE)."""
    row = await tx.one(_NEED, id=need_id)
    if row is None:
        return None
    need = _READ_NEED(row)
    dates = masked(stored_dates(need.rounds), need.rounds_mask)
    offer = await _best_holder(tx, need, dates)
    if offer is None:
        return None
    [match_id] = await next_match_ids(tx, 1)
    await tx.run(_INSERT_MATCH, id=match_id, need_id=need_id, offer_id=offer.id,
                 rounds_mask=need.rounds_mask, proposed_at=now,
                 expires_at=now + timedelta(hours=PROPOSAL_HOURS))
    for day in dates:
        used = {int(r[0]) for r in await tx.all(_SLOTS_USED, offer_id=offer.id,
                                                  round_date=day)}
        await tx.run(_INSERT_SLOT, offer_id=offer.id, round_date=day, slot=free_slot(used),
                     match_id=match_id)
    await tx.run(_NEED_MATCHED, id=need_id)
    await tx.run(OFFER_FULL, id=offer.id, capacity=need.proxy_capacity,
                 **run_of_dates(stored_dates(need.rounds)))
    await queue_proposals(tx, [Proposed(match_id, need.user_id, offer.user_id)])
    return match_id


@dataclass(frozen=True)
class _OfferPlace:
    commune_insee: str
    station: str
    department: str
    constituency: str | None
    campaign_id: int


_OFFER_PLACE = SQL.of(
    f"SELECT {columns(_OfferPlace)} FROM proxy_request WHERE id = :id AND kind = {OFFER} "
    f"AND status = {OPEN}")
_READ_OFFER_PLACE = reader(_OfferPlace)
# The open needs around an offer, closest and waiting longest first.
# On SQLite the campaign's term is no index term, as for the holders (`CANDIDATES`): it
# would read every need of the campaign instead of those of the three places. Each place's
# term carries the kind and status too, so that SQLite reads each through its own index
# (a union); with them outside, it read every open need through one index by the kind
# alone (60,000 open needs: 75 ms a new offer, 1 ms so).
_OPEN_NEED = f"n.kind = {NEED} AND n.status = {OPEN}"
_NEEDS_NEAR = (
    "SELECT n.id FROM proxy_request n WHERE {campaign} = :campaign_id AND ("
    f"({_OPEN_NEED} AND n.commune_insee = :insee) OR ({_OPEN_NEED} AND "
    f"n.department = :department) OR ({_OPEN_NEED} AND n.constituency = :constituency)) "
    "ORDER BY CASE WHEN n.commune_insee = :insee AND n.station = :station THEN 0 "
    "WHEN n.commune_insee = :insee THEN 1 WHEN n.constituency = :constituency THEN 2 "
    "ELSE 3 END, n.created_at, n.id LIMIT 20")
NEEDS_NEAR = SQL.dialects(_NEEDS_NEAR.format(campaign="+n.campaign_id"),
                          _NEEDS_NEAR.format(campaign="n.campaign_id"))
_MATCHED_OFFER = SQL.of("SELECT offer_id FROM proxy_match WHERE id = :id")


async def needs_near(tx: Tx, offer_id: int) -> list[int]:
    row = await tx.one(_OFFER_PLACE, id=offer_id)
    if row is None:
        return []
    offer = _READ_OFFER_PLACE(row)
    return [int(n[0]) for n in await tx.all(
        NEEDS_NEAR, campaign_id=offer.campaign_id, insee=offer.commune_insee,
        department=offer.department, constituency=offer.constituency, station=offer.station)]


async def _took(tx: Tx, match_id: int, offer_id: int) -> bool:
    """Whether the match went to that offer (then its holder is matched: stop there)."""
    taken = await tx.one(_MATCHED_OFFER, id=match_id)
    return taken is not None and int(taken[0]) == offer_id


async def match_offer(db: Database, campaign: Campaign, offer_id: int,
                      now: datetime | None = None) -> list[int]:
    """A new offer: the open needs of its campaign around it, closest and waiting longest
    first, each get their best holder (often this one), their proposals queued with them.
    Each need is its own transaction, so that on SQLite the writers of the phone bank wait
    for one match at a time, not twenty. Returns the matches made."""
    del campaign  # the offer's own campaign is read with it
    async with db.fast_read() as tx:
        needs = await needs_near(tx, offer_id)
    made = []
    for need_id in needs:
        match = await match_need(db, None, need_id, now)
        if match is not None:
            made.append(match)
            async with db.fast_read() as tx:
                if await _took(tx, match, offer_id):
                    break
    return made


async def match_offer_in(tx: Tx, offer_id: int, now: datetime) -> list[int]:
    """match_offer inside a transaction holding the matching lock: a holder freed by a
    withdrawal, matched with the withdrawal."""
    made = []
    for need_id in await needs_near(tx, offer_id):
        match = await match_need_in(tx, need_id, now)
        if match is not None:
            made.append(match)
            if await _took(tx, match, offer_id):
                break
    return made

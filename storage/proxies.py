"""Vote proxies: needs and offers, the matching, the answers, the holder's details.

The rules (France, since 2022): the giver (mandant) picks a holder (mandataire) registered in
any commune; the holder votes at the giver's polling station; a holder carries one proxy
established in France per round (the campaign's `proxy_capacity`). A match covers the
need's rounds; the holder's room per round is a row of `proxy_slot`, whose primary key stops
two needs taking the same holder for the same round whatever the race. Matching operations
also queue one behind the other (SQLite's writer lock; an advisory lock on PostgreSQL), so
the best candidate a matcher reads is still free when it writes.

Every operation that changes a request or a match queues, in its own transaction, the
messages the change implies (outbox rows keyed per match and person): a handler's edit
afterwards, or a tick's next step, may fail without losing them. A request belongs to its
campaign (`campaign_id`): its rounds mask is read against that campaign's rounds, whichever
campaign is active.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage import clock
from storage.database import Database
from storage.driver import SQL, PostgresTx, Tx, read_time
from storage.models import Campaign, ProxyKind
from storage.outbox import REACHABLE_ORGANIZERS, Notice, NoticeKind, queue_in, to_organizers
from storage.stations import normalise_number

PROPOSAL_HOURS = 24
LIVE = ("proposed", "accepted", "confirmed", "registered")
_LIVE_SQL = "('proposed', 'accepted', 'confirmed', 'registered')"
VOTER_NUMBER = re.compile(r"\d{8,9}")
STATION = re.compile(r"[0-9A-Z]{1,8}")
ADULT_AGE = 18


class ProxyError(ValueError):
    """A request or an answer that cannot be taken; `reason` says which rule it breaks:
    "round", "station", "station_unknown", "exists", "voter_number", "minor", "birth_date",
    "state"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- rounds -----------------------------------------------------------------------------------

def round_dates(campaign: Campaign) -> list[str]:
    return [r["date"] for r in campaign.rounds or []]


def rounds_mask(campaign: Campaign, dates: Sequence[str]) -> int:
    """Bit i for the campaign's round i. A date that is not one of its rounds is refused."""
    known = round_dates(campaign)
    if not dates or any(d not in known for d in dates):
        raise ProxyError("round")
    return sum(1 << known.index(d) for d in set(dates))


def dates_of(campaign: Campaign, mask: int) -> list[str]:
    return [d for i, d in enumerate(round_dates(campaign)) if mask & (1 << i)]


def normalise_station(number: str) -> str:
    """As the imported lists store it ("0012" is 12, "12a" is 12A); refused if it cannot be
    a station number."""
    cleaned = normalise_number(number)
    if not STATION.fullmatch(cleaned):
        raise ProxyError("station")
    return cleaned


# ---- requests ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """A polling station: the commune's INSEE code, its department, the station number."""

    commune_insee: str
    department: str
    station: str
    constituency: str | None = None


@dataclass(frozen=True)
class Requester:
    """Who a request is for: a Telegram user, or a contact of the phone bank."""

    first_name: str
    user_id: int | None = None
    contact_id: int | None = None
    phone: str | None = None


_STATIONS_KNOWN = SQL.of("SELECT count(*) FROM polling_station WHERE insee = ?")
_STATION_EXISTS = SQL.of("SELECT 1 FROM polling_station WHERE insee = ? AND number = ?")
_OWN_LIVE = SQL.of("SELECT id, kind FROM proxy_request WHERE user_id = ? "
                   "AND status IN ('open', 'matched')")
_CONTACT_LIVE = SQL.of("SELECT id FROM proxy_request WHERE contact_id = ? AND kind = ? "
                       "AND status IN ('open', 'matched')")
_INSERT_REQUEST = SQL.of(
    "INSERT INTO proxy_request (kind, status, user_id, contact_id, recorded_by, first_name, "
    "phone, commune_insee, department, constituency, station, own_commune_insee, "
    "own_station, rounds_mask, created_at, campaign_id) VALUES (?, 'open', ?, ?, ?, ?, ?, ?, "
    "?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")


async def _check_station(tx: Tx, place: Place) -> Place:
    station = normalise_station(place.station)
    known = await tx.one(_STATIONS_KNOWN, place.commune_insee)
    if known and known[0] and await tx.one(_STATION_EXISTS, place.commune_insee, station) is None:
        raise ProxyError("station_unknown")
    return Place(place.commune_insee, place.department, station, place.constituency)


async def create_request(db: Database, campaign: Campaign, kind: ProxyKind, person: Requester,
                         place: Place, rounds: Sequence[str], *, own_place: Place | None = None,
                         recorded_by: int | None = None) -> int:
    """A need or an offer. Refused whole (nothing saved) on a bad round or station, or when
    the person already has a live need or offer."""
    mask = rounds_mask(campaign, rounds)
    async with db.fast_write() as tx:
        place = await _check_station(tx, place)
        if own_place is not None:
            own_place = await _check_station(tx, own_place)
        if person.user_id is not None and await tx.one(_OWN_LIVE, person.user_id):
            raise ProxyError("exists")
        if person.contact_id is not None and await tx.one(
                _CONTACT_LIVE, person.contact_id, kind.value):
            raise ProxyError("exists")
        row = await tx.one(
            _INSERT_REQUEST, kind.value, person.user_id, person.contact_id, recorded_by,
            person.first_name, person.phone, place.commune_insee, place.department,
            place.constituency, place.station, own_place.commune_insee if own_place else None,
            own_place.station if own_place else None, mask, clock.utcnow(), campaign.id)
    assert row is not None
    return int(row[0])


# ---- matching ---------------------------------------------------------------------------------

_SERIALIZE = SQL("SELECT 1", "SELECT pg_advisory_xact_lock(7270001)")
# A need with its own campaign's rounds and rule: a campaign loaded later changes neither.
_NEED = SQL.of("SELECT n.id, n.user_id, n.commune_insee, n.station, n.constituency, "
               "n.department, n.rounds_mask, n.campaign_id, c.rounds, c.proxy_capacity "
               "FROM proxy_request n JOIN campaign c ON c.id = n.campaign_id "
               "WHERE n.id = ? AND n.kind = 'need' AND n.status = 'open'")
_OFFER_COLUMNS = ("o.id, o.user_id, o.commune_insee, o.station, o.constituency, o.department, "
                  "o.rounds_mask, o.created_at")
_TIERS = (
    "o.commune_insee = ? AND o.station = ?",
    "o.commune_insee = ?",
    "o.constituency = ?",
    "o.department = ?",
)
_INSERT_MATCH = SQL.of(
    "INSERT INTO proxy_match (id, need_id, offer_id, rounds_mask, status, proposed_at, "
    "expires_at) VALUES (?, ?, ?, ?, 'proposed', ?, ?)")
_INSERT_SLOT = SQL.of("INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) "
                      "VALUES (?, ?, ?, ?)")
_NEED_MATCHED = SQL.of("UPDATE proxy_request SET status = 'matched' WHERE id = ?")
_NEXT_IDS = SQL(
    "SELECT coalesce(max(id), 0) FROM proxy_match",
    "SELECT nextval(pg_get_serial_sequence('proxy_match', 'id')) "
    "FROM generate_series(1, $1)")


# The places an offer `o` has given for one round (bound: the round's date).
_PLACES_TAKEN = "(SELECT count(*) FROM proxy_slot s WHERE s.offer_id = o.id AND s.round_date = ?)"


def _candidate_sql(tier: str, rounds: int) -> SQL:
    room = " ".join(f"AND {_PLACES_TAKEN} < ?" for _ in range(rounds))
    return SQL.of(
        f"SELECT {_OFFER_COLUMNS} FROM proxy_request o WHERE o.kind = 'offer' "
        f"AND o.status = 'open' AND o.campaign_id = ? AND {tier} AND (o.rounds_mask & ?) = ? "
        "AND (o.user_id IS NULL OR o.user_id <> coalesce(CAST(? AS BIGINT), 0)) "
        "AND NOT EXISTS (SELECT 1 FROM proxy_match m WHERE m.need_id = ? AND m.offer_id = o.id) "
        f"{room} ORDER BY o.created_at, o.id LIMIT 1")


async def _ids(tx: Tx, count: int) -> list[int]:
    """Match ids chosen before inserting, so a whole pass inserts with executemany.
    Safe on SQLite: matching holds the writer lock."""
    if not isinstance(tx, PostgresTx):
        row = await tx.one(_NEXT_IDS)
        start = int(row[0]) if row else 0
        return list(range(start + 1, start + 1 + count))
    return [int(r[0]) for r in await tx.all(_NEXT_IDS, count)]


def _dates(rounds: Any) -> list[str]:
    """A campaign's round dates from its `rounds` column as the driver reads it."""
    if isinstance(rounds, str):
        rounds = json.loads(rounds)
    return [str(r["date"]) for r in rounds or []]


async def match_need(db: Database, campaign: Campaign | None, need_id: int,
                     now: datetime | None = None) -> int | None:
    """The best free holder for this need, at once: same polling station, then same
    commune, then constituency, then department; the one waiting longest among equals.
    Both sides' proposals are queued with the match. Returns the new match's id, or None
    (no holder free yet, or the need is not open). The need's own campaign's rounds count."""
    del campaign  # the need's own campaign is read with it
    async with db.fast_write() as tx:
        await tx.one(_SERIALIZE)
        return await _match_need(tx, need_id, now or clock.utcnow())


async def _match_need(tx: Tx, need_id: int, now: datetime) -> int | None:
    """match_need inside a transaction that holds the matching lock (_SERIALIZE)."""
    need = await tx.one(_NEED, need_id)
    if need is None:
        return None
    _nid, user_id, insee, station, constituency, department, mask, campaign_id = need[:8]
    dates, capacity = _dates(need[8]), int(need[9])
    need_rounds = [d for i, d in enumerate(dates) if mask & (1 << i)]
    room_args: list[Any] = []
    for d in need_rounds:
        room_args += [d, capacity]
    for tier, keys in zip(_TIERS, ((insee, station), (insee,), (constituency,),
                                   (department,)), strict=True):
        if None in keys:
            continue
        offer = await tx.one(_candidate_sql(tier, len(need_rounds)), campaign_id, *keys, mask,
                             mask, user_id, need_id, *room_args)
        if offer is not None:
            break
    else:
        return None
    [match_id] = await _ids(tx, 1)
    await tx.run(_INSERT_MATCH, match_id, need_id, offer[0], mask, now,
                 now + timedelta(hours=PROPOSAL_HOURS))
    for d in need_rounds:
        used = {int(r[0]) for r in await tx.all(_SLOTS_USED, offer[0], d)}
        await tx.run(_INSERT_SLOT, offer[0], d, _free_slot(used), match_id)
    await tx.run(_NEED_MATCHED, need_id)
    await _queue_proposals(tx, [(match_id, user_id, offer[1])])
    return match_id


_SLOTS_USED = SQL.of("SELECT slot FROM proxy_slot WHERE offer_id = ? AND round_date = ?")


def _free_slot(used: set[int]) -> int:
    """The lowest slot number free (slots freed by a decline leave holes)."""
    return next(n for n in range(1, len(used) + 2) if n not in used)


# ---- the messages a change implies, queued in its transaction ----------------------------------
# Keys are per match (and side or person): a change made once queues its messages once.

_SIDES = SQL.of("SELECT m.need_id, m.offer_id, n.user_id, o.user_id FROM proxy_match m "
                "JOIN proxy_request n ON n.id = m.need_id "
                "JOIN proxy_request o ON o.id = m.offer_id WHERE m.id = ?")


async def _queue_proposals(tx: Tx, matches: Sequence[tuple[int, int | None, int | None]]
                           ) -> None:
    """(match, need's user, offer's user): each side on Telegram gets the proposal; a side
    off Telegram is the organizers' to ask."""
    rows: list[Notice] = []
    organizers: list[int] | None = None
    for match_id, need_user, offer_user in matches:
        for side, user_id in (("need", need_user), ("offer", offer_user)):
            if user_id is not None:
                rows.append(Notice(f"proxy-proposal:{match_id}:{side}", NoticeKind.PROXY_PROPOSAL,
                             int(user_id), {"match": match_id, "side": side}, False))
        if need_user is None or offer_user is None:
            if organizers is None:
                organizers = [int(o) for (o,) in await tx.all(REACHABLE_ORGANIZERS)]
            rows += [Notice(f"proxy-followup:{match_id}:proposed:{o}", NoticeKind.PROXY_FOLLOWUP, o,
                      {"match": match_id}, False) for o in organizers]
    await queue_in(tx, rows)


_OPEN_NEEDS = SQL.of(
    "SELECT id, user_id, commune_insee, station, constituency, department, rounds_mask "
    "FROM proxy_request WHERE campaign_id = ? AND kind = 'need' AND status = 'open' "
    "ORDER BY created_at, id")
_OPEN_OFFERS = SQL.of(
    "SELECT id, user_id, commune_insee, station, constituency, department, rounds_mask "
    "FROM proxy_request WHERE campaign_id = ? AND kind = 'offer' AND status = 'open' "
    "ORDER BY created_at, id")
_ALL_SLOTS = SQL.of("SELECT offer_id, round_date, slot FROM proxy_slot")
_TRIED = SQL.of("SELECT need_id, offer_id FROM proxy_match")


@dataclass
class _Offer:
    id: int
    user_id: int | None
    mask: int
    slots: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))


async def match_all(db: Database, campaign: Campaign, now: datetime | None = None) -> list[int]:
    """A full pass, needs waiting longest first: the periodic tick, and after a decline or an
    expiry. In memory: offers bucketed by station, commune, constituency and department, in
    waiting order; then every match written with executemany, and its proposals queued in
    the same transaction. The campaign's own requests only. Returns the new match ids."""
    now = now or clock.utcnow()
    dates = round_dates(campaign)
    capacity = campaign.proxy_capacity
    async with db.fast_write(long=True) as tx:
        await tx.one(_SERIALIZE)
        needs = await tx.all(_OPEN_NEEDS, campaign.id)
        if not needs:
            return []
        offers_rows = await tx.all(_OPEN_OFFERS, campaign.id)
        offers: dict[int, _Offer] = {}
        buckets: list[dict[Any, list[_Offer]]] = [defaultdict(list) for _ in _TIERS]
        for oid, user_id, insee, station, constituency, department, mask in offers_rows:
            offer = _Offer(int(oid), user_id, int(mask))
            offers[offer.id] = offer
            for bucket, key in zip(buckets, ((insee, station), insee, constituency, department),
                                   strict=True):
                if key is not None:
                    bucket[key].append(offer)
        for oid, round_date, slot in await tx.all(_ALL_SLOTS):
            if int(oid) in offers:
                offers[int(oid)].slots[str(round_date)].add(int(slot))
        tried = {(int(n), int(o)) for n, o in await tx.all(_TRIED)}

        made: list[tuple[int, _Offer, int, list[tuple[str, int]]]] = []
        # Offers only fill up during a pass: once an offer cannot serve a set of rounds, it
        # never will again. So each (tier, key, rounds) list is searched from the first
        # offer that still can, instead of from its start (8 million looks -> 0.2 million
        # on 50,000 needs and offers).
        starts: dict[tuple[int, Any, int], int] = {}

        def serves(offer: _Offer, mask: int, rounds: list[str]) -> bool:
            return ((offer.mask & mask) == mask
                    and all(len(offer.slots[d]) < capacity for d in rounds))

        for nid, user_id, insee, station, constituency, department, mask in needs:
            need_rounds = [d for i, d in enumerate(dates) if mask & (1 << i)]
            chosen = None
            for tier, (bucket, key) in enumerate(zip(
                    buckets, ((insee, station), insee, constituency, department), strict=True)):
                if key is None or key not in bucket:
                    continue
                offers_here = bucket[key]
                first = starts.get((tier, key, mask), 0)
                while first < len(offers_here) and not serves(offers_here[first], mask,
                                                              need_rounds):
                    first += 1
                starts[(tier, key, mask)] = first
                for index in range(first, len(offers_here)):
                    offer = offers_here[index]
                    if (serves(offer, mask, need_rounds)
                            and (offer.user_id is None or offer.user_id != user_id)
                            and (int(nid), offer.id) not in tried):
                        chosen = offer
                        break
                if chosen is not None:
                    break
            if chosen is None:
                continue
            taken = []
            for d in need_rounds:
                slot = _free_slot(chosen.slots[d])
                chosen.slots[d].add(slot)
                taken.append((d, slot))
            made.append((int(nid), chosen, int(mask), taken))
        if not made:
            return []
        ids = await _ids(tx, len(made))
        stamp, expires = tx.value(now), tx.value(now + timedelta(hours=PROPOSAL_HOURS))
        matches = [(mid, nid, offer.id, mask)
                   for mid, (nid, offer, mask, _r) in zip(ids, made, strict=True)]
        slots = [(offer.id, d, slot, mid) for mid, (_n, offer, _m, taken) in zip(ids, made,
                                                                                strict=True)
                 for d, slot in taken]
        await _write_pass(tx, matches, slots, stamp, expires)
        need_users = {int(n[0]): n[1] for n in needs}
        await _queue_proposals(tx, [(mid, need_users[nid], offer.user_id)
                                    for mid, (nid, offer, _m, _t) in zip(ids, made, strict=True)])
    return ids


# PostgreSQL takes a whole pass as three statements over arrays: tens of thousands of
# single-row statements cost it seconds (each one's round trip and index work).
_PG_MATCHES = SQL(
    "", "INSERT INTO proxy_match (id, need_id, offer_id, rounds_mask, status, proposed_at, "
    "expires_at) SELECT m.id, m.need, m.offer, m.mask, 'proposed', $5, $6 FROM "
    "unnest($1::int[], $2::int[], $3::int[], $4::int[]) AS m(id, need, offer, mask)")
_PG_SLOTS = SQL(
    "", "INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) "
    "SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::int[])")
_PG_MATCHED = SQL("", "UPDATE proxy_request SET status = 'matched' WHERE id = ANY($1::int[])")


async def _write_pass(tx: Tx, matches: list[tuple[int, int, int, int]],
                      slots: list[tuple[int, str, int, int]], stamp: Any, expires: Any) -> None:
    if isinstance(tx, PostgresTx):
        await tx.run(_PG_MATCHES, *(list(c) for c in zip(*matches, strict=True)), stamp,
                     expires)
        await tx.run(_PG_SLOTS, *(list(c) for c in zip(*slots, strict=True)))
        await tx.run(_PG_MATCHED, [m[1] for m in matches])
        return
    await tx.many(_INSERT_MATCH, [(*m, stamp, expires) for m in matches])
    await tx.many(_INSERT_SLOT, slots)
    await tx.many(_NEED_MATCHED, [(m[1],) for m in matches])


# ---- what a match looks like to its two sides ---------------------------------------------------

@dataclass(frozen=True)
class Side:
    request_id: int
    first_name: str
    user_id: int | None
    phone: str | None
    commune_insee: str
    station: str


@dataclass(frozen=True)
class MatchView:
    id: int
    status: str
    need: Side
    offer: Side
    rounds: list[str]
    need_answer: bool | None
    offer_answer: bool | None
    expires_at: datetime
    voter_number: str | None
    birth_date: date | None
    # The rounds are those of the need's own campaign, whichever is active now.
    campaign_id: int | None = None
    round_names: list[str] = field(default_factory=list)
    timezone: str = "Europe/Paris"


# A match with both sides and their campaign: by id, or with a WHERE of the caller's.
_VIEW_FROM = (
    "SELECT m.id, m.status, m.rounds_mask, m.need_answer, m.offer_answer, m.expires_at, "
    "m.holder_voter_number, m.holder_birth_date, "
    "n.id, n.first_name, n.user_id, n.phone, n.commune_insee, n.station, "
    "o.id, o.first_name, o.user_id, o.phone, o.commune_insee, o.station, "
    "n.campaign_id, c.rounds, c.timezone "
    "FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
    "JOIN proxy_request o ON o.id = m.offer_id LEFT JOIN campaign c ON c.id = n.campaign_id")
_VIEW = SQL.of(_VIEW_FROM + " WHERE m.id = ?")


def _answer(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _view(row: Sequence[Any]) -> MatchView:
    birth = row[7]
    if isinstance(birth, str):
        birth = date.fromisoformat(birth)
    expires = read_time(row[5])
    assert expires is not None
    rounds = json.loads(row[21]) if isinstance(row[21], str) else list(row[21] or [])
    mask = int(row[2])
    chosen = [r for i, r in enumerate(rounds) if mask & (1 << i)]
    return MatchView(
        id=int(row[0]), status=str(row[1]), rounds=[str(r["date"]) for r in chosen],
        need_answer=_answer(row[3]), offer_answer=_answer(row[4]), expires_at=expires,
        voter_number=row[6], birth_date=birth,
        need=Side(int(row[8]), str(row[9]), row[10], row[11], str(row[12]), str(row[13])),
        offer=Side(int(row[14]), str(row[15]), row[16], row[17], str(row[18]), str(row[19])),
        campaign_id=int(row[20]) if row[20] is not None else None,
        round_names=[str(r["name"]) for r in chosen], timezone=str(row[22] or "Europe/Paris"))


async def match_view(db: Database, match_id: int) -> MatchView | None:
    async with db.fast_read() as tx:
        row = await tx.one(_VIEW, match_id)
    return _view(row) if row else None


# ---- answers, details, registration, cancellation ----------------------------------------------

_MATCH_STATE = SQL.of("SELECT status, need_answer, offer_answer, need_id, offer_id, "
                      "expires_at FROM proxy_match WHERE id = ?")
_FREE_SLOTS = SQL.of("DELETE FROM proxy_slot WHERE match_id = ?")
_REOPEN_NEED = SQL.of("UPDATE proxy_request SET status = 'open' "
                      "WHERE id = ? AND status = 'matched'")


@dataclass(frozen=True)
class Change:
    changed: bool  # False: pressed twice, or too late; nothing was recorded
    status: str  # the match's status now


async def answer(db: Database, match_id: int, side: str, accept: bool,
                 now: datetime | None = None) -> Change:
    """One side's yes or no to a proposal. A no ends the match (the need goes back to the
    queue; this pair is never proposed again); two yeses make it accepted. What it implies
    is queued with it: after a no, word to both sides and the need's next proposals; after
    the second yes, the holder is asked for their voter details and the giver told."""
    now = now or clock.utcnow()
    column = {"need": "need_answer", "offer": "offer_answer"}[side]
    async with db.fast_write() as tx:
        await tx.one(_SERIALIZE)
        row = await tx.one(_MATCH_STATE, match_id)
        if row is None:
            return Change(False, "missing")
        status, need_answer, offer_answer, need_id, _offer_id, expires = row
        mine = need_answer if side == "need" else offer_answer
        if status != "proposed" or mine is not None or read_time(expires) <= now:
            return Change(False, str(status))
        if not accept:
            await tx.run(SQL.of(f"UPDATE proxy_match SET {column} = ?, status = 'declined', "
                                "decided_at = ? WHERE id = ?"), False, now, match_id)
            await tx.run(_FREE_SLOTS, match_id)
            await tx.run(_REOPEN_NEED, need_id)
            await _queue_to_both(tx, match_id, "proxy-declined", NoticeKind.PROXY_DECLINED)
            await _match_need(tx, int(need_id), now)
            return Change(True, "declined")
        other = offer_answer if side == "need" else need_answer
        new_status = "accepted" if other else "proposed"
        await tx.run(SQL.of(f"UPDATE proxy_match SET {column} = ?, status = ?, decided_at = ? "
                            "WHERE id = ?"), True, new_status,
                     now if new_status == "accepted" else None, match_id)
        if new_status == "accepted":
            await _queue_accepted(tx, match_id)
        return Change(True, new_status)


async def _queue_to_both(tx: Tx, match_id: int, key: str, kind: NoticeKind) -> None:
    """The same word to each side on Telegram (a decline, an expiry)."""
    sides = await tx.one(_SIDES, match_id)
    await queue_in(tx, [Notice(f"{key}:{match_id}:{int(uid)}", kind, int(uid), {"match": match_id},
                         False) for uid in (sides[2:] if sides else ()) if uid is not None])


async def _queue_accepted(tx: Tx, match_id: int) -> None:
    sides = await tx.one(_SIDES, match_id)
    assert sides is not None
    need_user, offer_user = sides[2], sides[3]
    rows: list[Notice] = []
    if offer_user is not None:
        rows.append(Notice(f"proxy-details:{match_id}",
                           NoticeKind.PROXY_DETAILS_REQUEST, int(offer_user),
                           {"match": match_id}, False))
    else:
        rows += await to_organizers(tx, f"proxy-followup:{match_id}:details",
                                     NoticeKind.PROXY_FOLLOWUP, {"match": match_id})
    if need_user is not None:
        rows.append(Notice(f"proxy-accepted:{match_id}", NoticeKind.PROXY_ACCEPTED, int(need_user),
                     {"match": match_id}, False))
    await queue_in(tx, rows)


def check_voter_number(voter_number: str) -> str:
    """The holder's national voter number: 8 or 9 digits, on the voter card."""
    number = re.sub(r"\s+", "", voter_number)
    if not VOTER_NUMBER.fullmatch(number):
        raise ProxyError("voter_number")
    return number


def check_holder_details(campaign: Campaign, voter_number: str, birth: str) -> tuple[str, date]:
    """The holder's national voter number (8 or 9 digits, on the voter card) and date of birth
    (DD/MM/YYYY): refused if malformed, or if the holder is a minor on the first round."""
    number = check_voter_number(voter_number)
    match = re.fullmatch(r"\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\s*", birth)
    if match is None:
        raise ProxyError("birth_date")
    day, month, year = (int(g) for g in match.groups())
    try:
        born = date(year, month, day)
    except ValueError as exc:
        raise ProxyError("birth_date") from exc
    first_round = date.fromisoformat(round_dates(campaign)[0]) if campaign.rounds else (
        clock.utcnow().date())
    if born.year < 1900 or born > first_round:
        raise ProxyError("birth_date")
    age = first_round.year - born.year - ((first_round.month, first_round.day)
                                          < (born.month, born.day))
    if age < ADULT_AGE:
        raise ProxyError("minor")
    return number, born


async def keep_voter_number(db: Database, match_id: int, voter_number: str) -> Change:
    """The holder's number, given a step before their date of birth: kept on the match
    (never in a dialogue's data, which has no expiry), erased with the rest. False if the
    match is no longer waiting for it."""
    number = check_voter_number(voter_number)
    async with db.fast_write() as tx:
        changed = await tx.run(SQL.of(
            "UPDATE proxy_match SET holder_voter_number = ? WHERE id = ? "
            "AND status = 'accepted'"), number, match_id)
    return Change(bool(changed), "accepted" if changed else "unchanged")


async def give_holder_details(db: Database, campaign: Campaign, match_id: int,
                              voter_number: str | None, birth: str) -> Change:
    """After both said yes: what the giver needs to make the proxy official. A number of
    None is the one kept by `keep_voter_number`. The giver's instructions (or the
    organizers' follow-up for a giver off Telegram) and the holder's thanks are queued
    with it."""
    async with db.fast_write() as tx:
        if voter_number is None:
            kept = await tx.one(SQL.of("SELECT holder_voter_number FROM proxy_match "
                                       "WHERE id = ?"), match_id)
            voter_number = str(kept[0]) if kept and kept[0] else ""
        number, born = check_holder_details(campaign, voter_number, birth)
        changed = await tx.run(SQL.of(
            "UPDATE proxy_match SET holder_voter_number = ?, holder_birth_date = ?, "
            "status = 'confirmed' WHERE id = ? AND status = 'accepted'"),
            number, born if isinstance(tx, PostgresTx) else born.isoformat(), match_id)
        if changed:
            await _queue_confirmed(tx, match_id)
    return Change(bool(changed), "confirmed" if changed else "unchanged")


async def _queue_confirmed(tx: Tx, match_id: int) -> None:
    sides = await tx.one(_SIDES, match_id)
    assert sides is not None
    need_user, offer_user = sides[2], sides[3]
    rows: list[Notice] = []
    if need_user is not None:
        rows.append(Notice(f"proxy-confirmed:{match_id}",
                           NoticeKind.PROXY_CONFIRMED, int(need_user),
                           {"match": match_id}, False))
    else:
        rows += await to_organizers(tx, f"proxy-followup:{match_id}:confirmed",
                                     NoticeKind.PROXY_FOLLOWUP, {"match": match_id})
    if offer_user is not None:
        rows.append(Notice(f"proxy-confirmed-holder:{match_id}", NoticeKind.PROXY_CONFIRMED_HOLDER,
                     int(offer_user), {"match": match_id}, False))
    await queue_in(tx, rows)


async def mark_registered(db: Database, match_id: int, now: datetime | None = None) -> Change:
    """The giver made it official (maprocuration.gouv.fr, or the paper form); the holder's
    thanks are queued with it."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        row = await tx.one(SQL.of("UPDATE proxy_match SET status = 'registered', "
                                  "registered_at = ? WHERE id = ? AND status = 'confirmed' "
                                  "RETURNING need_id"), now, match_id)
        if row is None:
            return Change(False, "unchanged")
        await tx.run(SQL.of("UPDATE proxy_request SET status = 'registered' WHERE id = ?"),
                     row[0])
        sides = await tx.one(_SIDES, match_id)
        if sides is not None and sides[3] is not None:
            await queue_in(tx, [Notice(f"proxy-registered:{match_id}", NoticeKind.PROXY_REGISTERED,
                                 int(sides[3]), {"match": match_id}, False)])
    return Change(True, "registered")


@dataclass(frozen=True)
class Cancellation:
    cancelled_match: int | None  # the live match that ended, if any (the first of them)
    other_need: int | None  # a need to match again (the last of them)
    matched_again: list[int] = field(default_factory=list)  # the new matches made at once


_LIVE_OF = SQL.of(f"SELECT id, need_id, offer_id FROM proxy_match WHERE (need_id = ? OR "
                  f"offer_id = ?) AND status IN {_LIVE_SQL} ORDER BY id")


async def cancel_request(db: Database, request_id: int,
                         now: datetime | None = None) -> Cancellation:
    """Either side withdraws. Their request is closed; a live match ends (the holder's
    details with it); the other side is told (through the organizers when off Telegram)
    and matched again at once: a need with another holder, a holder with another need.
    All in one transaction: the other side is never left without word."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        await tx.one(_SERIALIZE)
        row = await tx.one(SQL.of("SELECT kind FROM proxy_request WHERE id = ? "
                                  "AND status IN ('open', 'matched', 'registered')"), request_id)
        if row is None:
            return Cancellation(None, None)
        await tx.run(SQL.of("UPDATE proxy_request SET status = 'cancelled' WHERE id = ?"),
                     request_id)
        matches = await tx.all(_LIVE_OF, request_id, request_id)
        other_need, freed_offers, again = None, [], []
        for mid, need_id, offer_id in matches:
            await tx.run(SQL.of("UPDATE proxy_match SET status = 'cancelled', "
                                "holder_voter_number = NULL, holder_birth_date = NULL "
                                "WHERE id = ?"), mid)
            await tx.run(_FREE_SLOTS, mid)
            await _queue_withdrawn(tx, int(mid), request_id)
            if int(need_id) != request_id:
                await tx.run(SQL.of("UPDATE proxy_request SET status = 'open' WHERE id = ? "
                                    "AND status IN ('matched', 'registered')"), need_id)
                other_need = int(need_id)
                new = await _match_need(tx, other_need, now)
                again += [new] if new is not None else []
            else:
                freed_offers.append(int(offer_id))
        for offer_id in freed_offers:
            again += await _match_offer(tx, offer_id, now)
    return Cancellation(int(matches[0][0]) if matches else None, other_need, again)


async def _queue_withdrawn(tx: Tx, match_id: int, leaving: int) -> None:
    sides = await tx.one(_SIDES, match_id)
    assert sides is not None
    need_id, _offer_id, need_user, offer_user = sides
    other_user = offer_user if int(need_id) == leaving else need_user
    if other_user is not None:
        rows = [Notice(f"proxy-cancelled:{match_id}", NoticeKind.PROXY_CANCELLED, int(other_user),
                 {"match": match_id}, False)]
    else:
        rows = await to_organizers(tx, f"proxy-followup:{match_id}:withdrawn",
                                    NoticeKind.PROXY_WITHDRAWN, {"match": match_id})
    await queue_in(tx, rows)


_EXPIRED = SQL.of("SELECT id, need_id FROM proxy_match WHERE status = 'proposed' "
                  "AND expires_at <= ?")


async def expire_proposals(db: Database, now: datetime | None = None) -> list[int]:
    """Proposals unanswered for 24 hours end; their needs go back to the queue (the next
    pass matches them); each side on Telegram is told, in the same transaction."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        await tx.one(_SERIALIZE)
        expired = await tx.all(_EXPIRED, now)
        for mid, need_id in expired:
            await tx.run(SQL.of("UPDATE proxy_match SET status = 'expired', decided_at = ? "
                                "WHERE id = ?"), now, mid)
            await tx.run(_FREE_SLOTS, mid)
            await tx.run(_REOPEN_NEED, need_id)
            await _queue_to_both(tx, int(mid), "proxy-expired", NoticeKind.PROXY_DECLINED)
    return [int(mid) for mid, _n in expired]


_CAMPAIGN_ROUNDS = SQL.of("SELECT id, rounds, timezone FROM campaign ORDER BY id")
_ERASE = SQL.of(
    "UPDATE proxy_match SET holder_voter_number = NULL, holder_birth_date = NULL "
    "WHERE (holder_voter_number IS NOT NULL OR holder_birth_date IS NOT NULL) "
    "AND need_id IN (SELECT id FROM proxy_request WHERE campaign_id = ?)")


async def erase_voter_details(db: Database, now: datetime | None = None) -> int:
    """Voter numbers and dates of birth go the day after the last round of their own
    campaign (in its time zone), whichever campaign is active, with rounds or not."""
    now = now or clock.utcnow()
    erased = 0
    async with db.fast_write() as tx:
        for campaign_id, rounds, timezone in await tx.all(_CAMPAIGN_ROUNDS):
            dates = _dates(rounds)
            if dates and now.astimezone(ZoneInfo(str(timezone))).date() > date.fromisoformat(
                    max(dates)):
                erased += await tx.run(_ERASE, campaign_id)
    return erased


_REMINDABLE = SQL.of(_VIEW_FROM + " WHERE m.status IN ('confirmed', 'registered')")


async def plan_proxy_reminders(db: Database, campaign: Campaign | None,
                               now: datetime | None = None) -> int:
    """The day's messages of live proxies, in one transaction: to a giver not registered
    yet, the steps again, daily from the day after they came, while the holder's details
    are kept; to a holder, the eve of each of their rounds (both in their own campaign's
    time); to organizers, from 18:00 in `campaign`'s time, the day's summary. Keys carry the
    day: planning twice queues nothing twice. Returns the rows considered."""
    now = now or clock.utcnow()
    rows: list[Notice] = []
    async with db.fast_write() as tx:
        for row in await tx.all(_REMINDABLE):
            view = _view(row)
            tz = ZoneInfo(view.timezone)
            today = now.astimezone(tz).date()
            tomorrow = (today + timedelta(days=1)).isoformat()
            proposed_on = (view.expires_at - timedelta(hours=PROPOSAL_HOURS)).astimezone(
                tz).date()
            if (view.status == "confirmed" and view.need.user_id is not None
                    and view.voter_number and proposed_on < today):
                rows.append(Notice(f"proxy-register:{view.id}:{today}",
                                   NoticeKind.PROXY_REGISTER_REMINDER,
                                   view.need.user_id, {"match": view.id}, True))
            if tomorrow in view.rounds and view.offer.user_id is not None:
                rows.append(Notice(f"proxy-eve:{view.id}:{tomorrow}", NoticeKind.PROXY_EVE,
                             view.offer.user_id, {"match": view.id}, True))
        if campaign is not None:
            local = now.astimezone(ZoneInfo(campaign.timezone))
            if local.hour >= 18:
                rows += [Notice(f"proxy-summary:{int(o)}:{local.date()}",
                                NoticeKind.PROXY_SUMMARY, int(o),
                                {}, True) for (o,) in await tx.all(REACHABLE_ORGANIZERS)]
        await queue_in(tx, rows)
    return len(rows)


# ---- lookups for the bot ----------------------------------------------------------------------

@dataclass(frozen=True)
class MyProxy:
    request_id: int
    kind: str
    status: str
    match_id: int | None
    match_status: str | None


async def my_proxy(db: Database, user_id: int) -> MyProxy | None:
    """The person's live need or offer, with its live match if any."""
    async with db.fast_read() as tx:
        row = await tx.one(SQL.of(
            "SELECT r.id, r.kind, r.status, m.id, m.status FROM proxy_request r "
            f"LEFT JOIN proxy_match m ON (m.need_id = r.id OR m.offer_id = r.id) "
            f"AND m.status IN {_LIVE_SQL} "
            "WHERE r.user_id = ? AND r.status IN ('open', 'matched', 'registered') "
            "ORDER BY r.id DESC, m.id DESC LIMIT 1"), user_id)
    if row is None:
        return None
    return MyProxy(int(row[0]), str(row[1]), str(row[2]),
                   int(row[3]) if row[3] is not None else None,
                   str(row[4]) if row[4] is not None else None)


async def check_station(db: Database, commune_insee: str, number: str) -> str:
    """The station number as stored ("0012" is 12), if it may be used in that commune: any
    number where no official list was imported, else only one of the list."""
    async with db.fast_read() as tx:
        place = await _check_station(tx, Place(commune_insee, "", number))
    return place.station


@dataclass(frozen=True)
class CalledPerson:
    """A contact who, on the phone, asked for or offered a proxy."""

    contact_id: int
    first_name: str
    phone: str
    commune: str | None
    postal_code: str | None
    constituency: str | None


_CALLED = SQL.of(
    "SELECT c.id, c.first_name, c.phone, c.commune, c.postal_code, c.constituency "
    "FROM contact c JOIN call k ON k.contact_id = c.id WHERE c.id = ? AND k.volunteer_id = ? "
    "AND k.outcome IN ('needs_proxy', 'can_carry_proxy') LIMIT 1")


async def called_person(db: Database, contact_id: int, volunteer_id: int) -> CalledPerson | None:
    """Only the volunteer who recorded the proxy outcome may fill the request in."""
    async with db.fast_read() as tx:
        row = await tx.one(_CALLED, contact_id, volunteer_id)
    if row is None:
        return None
    return CalledPerson(int(row[0]), str(row[1] or ""), str(row[2]), row[3], row[4], row[5])


_NEEDS_NEAR = SQL.of(
    "SELECT n.id FROM proxy_request n WHERE n.kind = 'need' AND n.status = 'open' "
    "AND n.campaign_id = ? AND ("
    "n.commune_insee = ? OR n.department = ? OR n.constituency = ?) "
    "ORDER BY CASE WHEN n.commune_insee = ? AND n.station = ? THEN 0 "
    "WHEN n.commune_insee = ? THEN 1 WHEN n.constituency = ? THEN 2 ELSE 3 END, "
    "n.created_at, n.id LIMIT 20")


async def match_offer(db: Database, campaign: Campaign, offer_id: int,
                      now: datetime | None = None) -> list[int]:
    """A new offer: the open needs of its campaign around it, closest and waiting longest
    first, each get their best holder (often this one), their proposals queued with them.
    Each need is its own transaction, so that on SQLite the writers of the phone bank wait
    for one match at a time, not twenty. Returns the matches made."""
    del campaign  # the offer's own campaign is read with it
    async with db.fast_read() as tx:
        needs = await _needs_near(tx, offer_id)
    made = []
    for need_id in needs:
        match = await match_need(db, None, need_id, now)
        if match is not None:
            made.append(match)
            view = await match_view(db, match)
            if view is not None and view.offer.request_id == offer_id:
                break
    return made


async def _needs_near(tx: Tx, offer_id: int) -> list[int]:
    row = await tx.one(SQL.of("SELECT commune_insee, station, department, constituency, "
                              "campaign_id FROM proxy_request WHERE id = ? AND kind = 'offer' "
                              "AND status = 'open'"), offer_id)
    if row is None:
        return []
    insee, station, department, constituency, campaign_id = row
    return [int(n[0]) for n in await tx.all(_NEEDS_NEAR, campaign_id, insee, department,
                                             constituency, insee, station, insee,
                                             constituency)]


_MATCHED_OFFER = SQL.of("SELECT offer_id FROM proxy_match WHERE id = ?")


async def _match_offer(tx: Tx, offer_id: int, now: datetime) -> list[int]:
    """match_offer inside a transaction holding the matching lock: a holder freed by a
    withdrawal, matched with the withdrawal."""
    made = []
    for need_id in await _needs_near(tx, offer_id):
        match = await _match_need(tx, need_id, now)
        if match is not None:
            made.append(match)
            taken = await tx.one(_MATCHED_OFFER, match)
            if taken is not None and int(taken[0]) == offer_id:
                break
    return made


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]  # open_needs, open_offers, proposed, accepted, registered
    by_place: list[tuple[str, str | None, int, int, int]]  # insee, constituency, open needs,
    #                                                        open offers, matched


def _has_room_sql(rounds: int) -> str:
    """An offer with a place left in one of its rounds, at least (bit i: round i)."""
    return "(" + (" OR ".join(
        f"((o.rounds_mask & ?) <> 0 AND {_PLACES_TAKEN} < ?)" for _ in range(rounds))
        or "1 = 0") + ")"


async def overview(db: Database, campaign: Campaign) -> Overview:
    """The organizers' counts, the campaign's own requests. An offer counts as open while
    its holder can still carry a vote: one whose places are all taken is not an offer
    waiting."""
    dates = round_dates(campaign)
    room_args: list[Any] = []
    for i, day in enumerate(dates):
        room_args += [1 << i, day, campaign.proxy_capacity]
    open_offer = f"o.kind = 'offer' AND o.status = 'open' AND {_has_room_sql(len(dates))}"
    async with db.fast_read() as tx:
        requests = await tx.all(SQL.of(
            f"SELECT o.kind, CASE WHEN {open_offer} THEN 'open' WHEN o.status = 'open' "
            "AND o.kind = 'offer' THEN 'full' ELSE o.status END, count(*) "
            "FROM proxy_request o WHERE o.campaign_id = ? GROUP BY 1, 2"), *room_args,
            campaign.id)
        matches = await tx.all(SQL.of(
            "SELECT m.status, count(*) FROM proxy_match m JOIN proxy_request n "
            "ON n.id = m.need_id WHERE n.campaign_id = ? GROUP BY 1"), campaign.id)
        places = await tx.all(SQL.of(
            "SELECT o.commune_insee, o.constituency, "
            "sum(CASE WHEN o.kind = 'need' AND o.status = 'open' THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {open_offer} THEN 1 ELSE 0 END), "
            "sum(CASE WHEN o.kind = 'need' AND o.status IN ('matched', 'registered') "
            "THEN 1 ELSE 0 END) FROM proxy_request o WHERE o.campaign_id = ? GROUP BY 1, 2 "
            "ORDER BY 3 DESC, 1 LIMIT 15"), *room_args, campaign.id)
    by = {(str(k), str(s)): int(n) for k, s, n in requests}
    by_match = {str(s): int(n) for s, n in matches}
    counts = {
        "open_needs": by.get(("need", "open"), 0),
        "open_offers": by.get(("offer", "open"), 0),
        "proposed": by_match.get("proposed", 0),
        "accepted": by_match.get("accepted", 0) + by_match.get("confirmed", 0),
        "registered": by_match.get("registered", 0),
    }
    return Overview(counts, [(str(i), c, int(a or 0), int(b or 0), int(m or 0))
                             for i, c, a, b, m in places])


async def waiting_on_organizers(db: Database) -> list[MatchView]:
    """Live matches with a side off Telegram whose answer or details an organizer must get
    by phone (whichever campaign they were made in)."""
    async with db.fast_read() as tx:
        rows = await tx.all(SQL.of(
            _VIEW_FROM
            + " WHERE (m.status = 'proposed' AND ((n.user_id IS NULL AND m.need_answer IS NULL)"
            " OR (o.user_id IS NULL AND m.offer_answer IS NULL)))"
            " OR (m.status = 'accepted' AND o.user_id IS NULL)"
            " OR (m.status = 'confirmed' AND n.user_id IS NULL) ORDER BY m.id LIMIT 20"))
    return [_view(row) for row in rows]


EXPORT_COLUMNS = ("request", "kind", "status", "first_name", "phone", "commune_insee",
                  "department", "constituency", "station", "rounds", "created_at",
                  "match_status", "matched_with")


async def export_requests(db: Database, campaign: Campaign, *,
                          actor_id: int | None = None) -> list[list[str]]:
    """Every need and offer of the campaign with its latest match, header first; audited.
    Voter numbers and dates of birth are never exported: they are the giver's alone."""
    from storage.audit import write_audit

    async with db.write() as session:
        await write_audit(session, actor_id, "proxies.export", f"campaign={campaign.name}")
    async with db.fast_read() as tx:
        rows = await tx.all(SQL.of(
            "SELECT r.id, r.kind, r.status, r.first_name, r.phone, r.commune_insee, "
            "r.department, r.constituency, r.station, r.rounds_mask, r.created_at, "
            "(SELECT m.status FROM proxy_match m WHERE m.need_id = r.id OR m.offer_id = r.id "
            " ORDER BY m.id DESC LIMIT 1), "
            "(SELECT CASE WHEN m.need_id = r.id THEN o.first_name ELSE n.first_name END "
            " FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
            " JOIN proxy_request o ON o.id = m.offer_id "
            " WHERE m.need_id = r.id OR m.offer_id = r.id ORDER BY m.id DESC LIMIT 1) "
            "FROM proxy_request r WHERE r.campaign_id = ? ORDER BY r.id"), campaign.id)
    out = [list(EXPORT_COLUMNS)]
    for row in rows:
        values = list(row)
        values[9] = " ".join(dates_of(campaign, int(values[9])))
        created = read_time(values[10])
        values[10] = created.isoformat() if created else ""
        out.append(["" if v is None else str(v) for v in values])
    return out

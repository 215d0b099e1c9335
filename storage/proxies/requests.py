"""Needs and offers: who a request is for, where the vote is cast, and the one live
request a person may have; what the bot reads back of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import Campaign, Outcome, ProxyKind, ProxyMatchStatus, ProxyRequestStatus
from storage.proxies.rules import (
    LIVE_MATCH,
    LIVE_REQUEST,
    MATCHED,
    OPEN,
    ProxyError,
    normalise_station,
    rounds_mask,
    sql_list,
)
from storage.rows import columns, reader


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


_STATIONS_KNOWN = SQL.of("SELECT count(*) FROM polling_station WHERE insee = :insee")
_STATION_EXISTS = SQL.of(
    "SELECT 1 FROM polling_station WHERE insee = :insee AND number = :number")
_OWN_LIVE = SQL.of(
    f"SELECT id FROM proxy_request WHERE user_id = :user_id AND status IN ({OPEN}, {MATCHED})")
_CONTACT_LIVE = SQL.of(
    "SELECT id FROM proxy_request WHERE contact_id = :contact_id AND kind = :kind "
    f"AND status IN ({OPEN}, {MATCHED})")
_INSERT_REQUEST = SQL.of(
    "INSERT INTO proxy_request (kind, status, user_id, contact_id, recorded_by, first_name, "
    "phone, commune_insee, department, constituency, station, own_commune_insee, "
    f"own_station, rounds_mask, created_at, campaign_id) VALUES (:kind, {OPEN}, :user_id, "
    ":contact_id, :recorded_by, :first_name, :phone, :commune_insee, :department, "
    ":constituency, :station, :own_commune_insee, :own_station, :rounds_mask, :created_at, "
    ":campaign_id) RETURNING id")


async def checked_place(tx: Tx, place: Place) -> Place:
    """The place with its station as stored; refused if the commune's official list (when
    one was imported) has no such station."""
    station = normalise_station(place.station)
    known = await tx.one(_STATIONS_KNOWN, insee=place.commune_insee)
    if known and known[0] and await tx.one(_STATION_EXISTS, insee=place.commune_insee,
                                           number=station) is None:
        raise ProxyError("station_unknown")
    return Place(place.commune_insee, place.department, station, place.constituency)


async def create_request(db: Database, campaign: Campaign, kind: ProxyKind, person: Requester,
                         place: Place, rounds: Sequence[str], *, own_place: Place | None = None,
                         recorded_by: int | None = None) -> int:
    """A need or an offer. Refused whole (nothing saved) on a bad round or station, or when
    the person already has a live need or offer."""
    mask = rounds_mask(campaign, rounds)
    async with db.fast_write() as tx:
        place = await checked_place(tx, place)
        if own_place is not None:
            own_place = await checked_place(tx, own_place)
        if person.user_id is not None and await tx.one(_OWN_LIVE, user_id=person.user_id):
            raise ProxyError("exists")
        if person.contact_id is not None and await tx.one(
                _CONTACT_LIVE, contact_id=person.contact_id, kind=kind.value):
            raise ProxyError("exists")
        row = await tx.one(
            _INSERT_REQUEST, kind=kind.value, user_id=person.user_id,
            contact_id=person.contact_id, recorded_by=recorded_by, first_name=person.first_name,
            phone=person.phone, commune_insee=place.commune_insee, department=place.department,
            constituency=place.constituency, station=place.station,
            own_commune_insee=own_place.commune_insee if own_place else None,
            own_station=own_place.station if own_place else None, rounds_mask=mask,
            created_at=clock.utcnow(), campaign_id=campaign.id)
    assert row is not None
    return int(row[0])


async def check_station(db: Database, commune_insee: str, number: str) -> str:
    """The station number as stored ("0012" is 12), if it may be used in that commune: any
    number where no official list was imported, else only one of the list."""
    async with db.fast_read() as tx:
        place = await checked_place(tx, Place(commune_insee, "", number))
    return place.station


@dataclass(frozen=True)
class MyProxy:
    request_id: int
    kind: ProxyKind
    status: ProxyRequestStatus
    match_id: int | None
    match_status: ProxyMatchStatus | None


_MY_PROXY = SQL.of(
    f"SELECT {columns(MyProxy)} FROM (SELECT r.id AS request_id, r.kind AS kind, "
    "r.status AS status, m.id AS match_id, m.status AS match_status FROM proxy_request r "
    "LEFT JOIN proxy_match m ON (m.need_id = r.id OR m.offer_id = r.id) "
    f"AND m.status IN ({LIVE_MATCH}) "
    f"WHERE r.user_id = :user_id AND r.status IN ({LIVE_REQUEST})) AS mine "
    "ORDER BY request_id DESC, match_id DESC LIMIT 1")
_READ_MY_PROXY = reader(MyProxy)


async def my_proxy(db: Database, user_id: int) -> MyProxy | None:
    """The person's live need or offer, with its live match if any."""
    async with db.fast_read() as tx:
        row = await tx.one(_MY_PROXY, user_id=user_id)
    return None if row is None else _READ_MY_PROXY(row)


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
    f"SELECT {columns(CalledPerson)} FROM (SELECT c.id AS contact_id, "
    "coalesce(c.first_name, '') AS first_name, c.phone, c.commune, c.postal_code, "
    "c.constituency FROM contact c JOIN call k ON k.contact_id = c.id "
    "WHERE c.id = :contact_id AND k.volunteer_id = :volunteer_id "
    f"AND k.outcome IN ({sql_list(Outcome.NEEDS_PROXY, Outcome.CAN_CARRY_PROXY)}) LIMIT 1) "
    "AS called")
_READ_CALLED = reader(CalledPerson)


async def called_person(db: Database, contact_id: int, volunteer_id: int) -> CalledPerson | None:
    """Only the volunteer who recorded the proxy outcome may fill the request in."""
    async with db.fast_read() as tx:
        row = await tx.one(_CALLED, contact_id=contact_id, volunteer_id=volunteer_id)
    return None if row is None else _READ_CALLED(row)

"""What a match looks like to its two sides, to the organizers who follow it up, and the
organizers' counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign, ProxyKind, ProxyMatchStatus, ProxyRequestStatus
from storage.proxies.rules import (
    ACCEPTED,
    CONFIRMED,
    MATCHED,
    NEED,
    OFFER,
    OPEN,
    PROPOSED,
    REGISTERED,
    ROUNDS,
    room_left,
    round_dates,
    run_of_dates,
)
from storage.rows import columns, reader


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
    status: ProxyMatchStatus
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


@dataclass(frozen=True)
class MatchRow:
    """A match with both sides and their campaign, as `MATCHES` reads it."""

    id: int
    status: ProxyMatchStatus
    rounds_mask: int
    need_answer: bool | None
    offer_answer: bool | None
    expires_at: datetime
    voter_number: str | None
    birth_date: date | None
    need_request_id: int
    need_first_name: str
    need_user_id: int | None
    need_phone: str | None
    need_commune_insee: str
    need_station: str
    offer_request_id: int
    offer_first_name: str
    offer_user_id: int | None
    offer_phone: str | None
    offer_commune_insee: str
    offer_station: str
    campaign_id: int | None
    rounds: list[dict[str, Any]] | None
    timezone: str | None

    def view(self) -> MatchView:
        chosen = [r for i, r in enumerate(self.rounds or []) if self.rounds_mask & (1 << i)]
        return MatchView(
            id=self.id, status=self.status, rounds=[str(r["date"]) for r in chosen],
            need_answer=self.need_answer, offer_answer=self.offer_answer,
            expires_at=self.expires_at, voter_number=self.voter_number,
            birth_date=self.birth_date,
            need=Side(self.need_request_id, self.need_first_name, self.need_user_id,
                      self.need_phone, self.need_commune_insee, self.need_station),
            offer=Side(self.offer_request_id, self.offer_first_name, self.offer_user_id,
                       self.offer_phone, self.offer_commune_insee, self.offer_station),
            campaign_id=self.campaign_id, round_names=[str(r["name"]) for r in chosen],
            timezone=self.timezone or "Europe/Paris")


def _side(alias: str, name: str) -> str:
    return ", ".join(f"{alias}.{column} AS {name}_{column}" for column in (
        "first_name", "user_id", "phone", "commune_insee", "station")) + (
        f", {alias}.id AS {name}_request_id")


# Every match with both sides and their campaign, as a table of MatchRow's names: the
# callers add their WHERE.
MATCHES = (
    f"SELECT {columns(MatchRow)} FROM (SELECT m.id, m.status, m.rounds_mask, m.need_answer, "
    "m.offer_answer, m.expires_at, m.holder_voter_number AS voter_number, "
    f"m.holder_birth_date AS birth_date, {_side('n', 'need')}, {_side('o', 'offer')}, "
    "n.campaign_id, c.rounds, c.timezone "
    "FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
    "JOIN proxy_request o ON o.id = m.offer_id "
    "LEFT JOIN campaign c ON c.id = n.campaign_id) AS v")
READ_MATCH = reader(MatchRow)
_MATCH = SQL.of(MATCHES + " WHERE id = :id")
_WAITING_ON_ORGANIZERS = SQL.of(
    MATCHES + f" WHERE (status = {PROPOSED} AND ((need_user_id IS NULL AND need_answer IS NULL)"
    " OR (offer_user_id IS NULL AND offer_answer IS NULL)))"
    f" OR (status = {ACCEPTED} AND offer_user_id IS NULL)"
    f" OR (status = {CONFIRMED} AND need_user_id IS NULL) ORDER BY id LIMIT 20")


async def match_view(db: Database, match_id: int) -> MatchView | None:
    async with db.fast_read() as tx:
        row = await tx.one(_MATCH, id=match_id)
    return READ_MATCH(row).view() if row else None


async def waiting_on_organizers(db: Database) -> list[MatchView]:
    """Live matches with a side off Telegram whose answer or details an organizer must get
    by phone (whichever campaign they were made in)."""
    async with db.fast_read() as tx:
        rows = await tx.all(_WAITING_ON_ORGANIZERS)
    return [READ_MATCH(row).view() for row in rows]


# ---- the organizers' counts -----------------------------------------------------------------

@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]  # open_needs, open_offers, proposed, accepted, registered
    by_place: list[tuple[str, str | None, int, int, int]]  # insee, constituency, open needs,
    #                                                        open offers, matched


# An offer with a place left in one of its rounds, at least: one whose places are all
# taken is not an offer waiting.
_OPEN_OFFER = f"o.kind = {OFFER} AND o.status = {OPEN} AND {room_left('o')}"


@dataclass(frozen=True)
class _RequestCount:
    kind: str
    status: str  # a request's, or "full": an open offer with no place left
    requests: int


@dataclass(frozen=True)
class _MatchCount:
    status: str
    matches: int


@dataclass(frozen=True)
class _PlaceCount:
    insee: str
    constituency: str | None
    needs: int | None  # open
    offers: int | None  # open, with a place left
    matched: int | None  # needs matched or registered


_COUNT_REQUESTS = SQL.of(
    f"{ROUNDS}SELECT {columns(_RequestCount)} FROM (SELECT o.kind AS kind, "
    f"CASE WHEN {_OPEN_OFFER} THEN {OPEN} WHEN o.status IN ({OPEN}, {MATCHED}) "
    f"AND o.kind = {OFFER} THEN 'full' ELSE o.status END AS status, count(*) AS requests "
    "FROM proxy_request o WHERE o.campaign_id = :campaign_id GROUP BY 1, 2) AS counts")
_COUNT_BY_PLACE = SQL.of(
    f"{ROUNDS}SELECT {columns(_PlaceCount)} FROM (SELECT o.commune_insee AS insee, "
    "o.constituency AS constituency, "
    f"sum(CASE WHEN o.kind = {NEED} AND o.status = {OPEN} THEN 1 ELSE 0 END) AS needs, "
    f"sum(CASE WHEN {_OPEN_OFFER} THEN 1 ELSE 0 END) AS offers, "
    f"sum(CASE WHEN o.kind = {NEED} AND o.status IN ({MATCHED}, {REGISTERED}) "
    "THEN 1 ELSE 0 END) AS matched FROM proxy_request o WHERE o.campaign_id = :campaign_id "
    "GROUP BY 1, 2) AS places ORDER BY needs DESC, insee LIMIT 15")
_COUNT_MATCHES = SQL.of(
    f"SELECT {columns(_MatchCount)} FROM (SELECT m.status AS status, count(*) AS matches "
    "FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
    "WHERE n.campaign_id = :campaign_id GROUP BY 1) AS counts")
_READ_REQUESTS, _READ_MATCHES = reader(_RequestCount), reader(_MatchCount)
_READ_PLACE = reader(_PlaceCount)


async def overview(db: Database, campaign: Campaign) -> Overview:
    """The organizers' counts, the campaign's own requests. An offer counts as open while
    its holder can still carry a vote: one whose places are all taken is not an offer
    waiting."""
    dates = round_dates(campaign)
    rounds = {**run_of_dates(dates), "capacity": campaign.proxy_capacity}
    async with db.fast_read() as tx:
        requests = await tx.all(_COUNT_REQUESTS, campaign_id=campaign.id, **rounds)
        matches = await tx.all(_COUNT_MATCHES, campaign_id=campaign.id)
        places = await tx.all(_COUNT_BY_PLACE, campaign_id=campaign.id, **rounds)
    by = {(r.kind, r.status): int(r.requests) for r in map(_READ_REQUESTS, requests)}
    by_match = {m.status: int(m.matches) for m in map(_READ_MATCHES, matches)}
    counts = {
        "open_needs": by.get((ProxyKind.NEED, ProxyRequestStatus.OPEN), 0),
        "open_offers": by.get((ProxyKind.OFFER, ProxyRequestStatus.OPEN), 0),
        "proposed": by_match.get(ProxyMatchStatus.PROPOSED, 0),
        "accepted": by_match.get(ProxyMatchStatus.ACCEPTED, 0)
        + by_match.get(ProxyMatchStatus.CONFIRMED, 0),
        "registered": by_match.get(ProxyMatchStatus.REGISTERED, 0),
    }
    return Overview(counts, [(p.insee, p.constituency, int(p.needs or 0), int(p.offers or 0),
                              int(p.matched or 0)) for p in map(_READ_PLACE, places)])

"""Asking the people near a need nobody offered for: where supporters vote ("Where do you
vote?", optional), the ask itself a day after the need was made, the answer's reading of the
need, and the organizers' line of needs still waiting after two days.

An ask is a campaign message (storage.outbox: /stop ends it, the electoral silence holds
it, quiet hours too); `proxy_ask` keeps who was asked for which need, so that nobody is
asked twice for a need nor more than once a week, whatever restarts in between. A "yes"
is an offer like any other: the matching decides, so two people saying yes both offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage import clock
from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign
from storage.outbox import Notice, NoticeKind, queue_in
from storage.proxies.matching import SERIALIZE
from storage.proxies.requests import Place, checked_place
from storage.proxies.rules import (
    LIVE_MATCH,
    LIVE_REQUEST,
    NEED,
    OPEN,
    masked,
    stored_rounds,
)
from storage.rows import columns, reader

ASK_AFTER = timedelta(hours=24)  # a need still unmatched this long is asked around
ASKS_PER_NEED = 10  # people asked for one need, at most, nearest first
ASK_EVERY = timedelta(days=7)  # a person is asked at most once in this time
NEEDS_PER_TICK = 50  # a tick asks for this many needs at most: the next one goes on
SUMMARY_AFTER = timedelta(hours=48)  # needs waiting this long go to the evening summary


# ---- where a supporter votes ----------------------------------------------------------------

@dataclass(frozen=True)
class VotingPlace:
    commune_insee: str
    station: str | None  # None: the person knows their commune, not their station


_SET_PLACE = SQL.of("UPDATE users SET vote_commune_insee = :insee, vote_station = :station "
                    "WHERE id = :user_id")
_PLACE = SQL.of(
    f"SELECT {columns(VotingPlace)} FROM (SELECT vote_commune_insee AS commune_insee, "
    "vote_station AS station FROM users WHERE id = :user_id "
    "AND vote_commune_insee IS NOT NULL) AS place")
_READ_PLACE = reader(VotingPlace)


async def set_voting_place(db: Database, user_id: int, commune_insee: str,
                           station: str | None) -> VotingPlace:
    """Where the person votes (the station may be unknown to them), checked as a proxy's
    station is (storage.proxies.check_station): refused (ProxyError) if the commune's
    official list has no such station. Given again, it replaces the one before."""
    async with db.fast_write() as tx:
        if station is not None:
            station = (await checked_place(tx, Place(commune_insee, "", station))).station
        await tx.run(_SET_PLACE, insee=commune_insee, station=station, user_id=user_id)
    return VotingPlace(commune_insee, station)


async def voting_place(db: Database, user_id: int) -> VotingPlace | None:
    async with db.fast_read() as tx:
        row = await tx.one(_PLACE, user_id=user_id)
    return None if row is None else _READ_PLACE(row)


# ---- the ask --------------------------------------------------------------------------------

# Someone who may be asked for need `n`: not its own person, not after /stop, reachable, not
# erased, with no live need or offer of their own (an offer of theirs is in the matching
# already; a need means they cannot vote), not asked for this need yet, nor for any within the week.
_ASKABLE = (
    "u.id > 0 AND u.id <> :owner AND NOT u.stopped AND NOT u.blocked AND NOT u.forgotten "
    "AND NOT EXISTS (SELECT 1 FROM proxy_request r WHERE r.user_id = u.id "
    f"AND r.status IN ({LIVE_REQUEST})) "
    "AND NOT EXISTS (SELECT 1 FROM proxy_ask a WHERE a.user_id = u.id "
    "AND (a.need_id = n.id OR a.asked_at > :week_ago))")


def _askable(owner: str) -> str:
    """The same, with the need's own person read from `owner` rather than `:owner`."""
    return _ASKABLE.replace(":owner", owner)


@dataclass(frozen=True)
class _Waiting:
    id: int
    user_id: int | None
    commune_insee: str
    station: str
    rounds_mask: int
    rounds: list[dict[str, Any]] | None
    timezone: str
    asked: int


# Needs open for a day, in no live match, with room for more asks and someone to ask in
# their commune: the oldest first.
_WAITING = SQL.of(
    f"SELECT {columns(_Waiting)} FROM (SELECT n.id AS id, n.user_id AS user_id, "
    "n.commune_insee AS commune_insee, n.station AS station, n.rounds_mask AS rounds_mask, "
    "c.rounds AS rounds, c.timezone AS timezone, (SELECT count(*) FROM proxy_ask a "
    "WHERE a.need_id = n.id) AS asked, n.created_at AS created_at "
    "FROM proxy_request n JOIN campaign c ON c.id = n.campaign_id "
    f"WHERE n.kind = {NEED} AND n.status = {OPEN} AND n.campaign_id = :campaign_id "
    "AND n.created_at <= :made_before AND NOT EXISTS (SELECT 1 FROM proxy_match m "
    f"WHERE m.need_id = n.id AND m.status IN ({LIVE_MATCH}))) AS n "
    "WHERE n.asked < :per_need AND EXISTS (SELECT 1 FROM users u "
    "WHERE u.vote_commune_insee = n.commune_insee AND "
    f"{_askable('coalesce(n.user_id, 0)')}) "
    "ORDER BY n.created_at, n.id LIMIT :needs")
_READ_WAITING = reader(_Waiting)
# Nearest first: the same polling station, then the same commune; among equals, the
# supporters of longest standing.
_NEAREST = SQL.of(
    "SELECT u.id FROM users u, (SELECT CAST(:need AS INTEGER) AS id) AS n "
    f"WHERE u.vote_commune_insee = :insee AND {_ASKABLE} "
    "ORDER BY CASE WHEN u.vote_station = :station THEN 0 ELSE 1 END, u.created_at, u.id "
    "LIMIT :room")
_RECORD = SQL.of("INSERT INTO proxy_ask (need_id, user_id, asked_at) "
                 "VALUES (:need_id, :user_id, :asked_at)")


def _dates_ahead(need: _Waiting, now: datetime) -> list[str]:
    """The need's rounds still to come (after today, in its campaign's time): a proxy for
    today is too late to make."""
    today = now.astimezone(ZoneInfo(need.timezone)).date().isoformat()
    dates = [r["date"] for r in stored_rounds(need.rounds)]
    return [d for d in masked(dates, need.rounds_mask) if d > today]


async def ask_nearby(db: Database, campaign: Campaign, now: datetime | None = None) -> int:
    """For each need of `campaign` unmatched for a day (the oldest first), ask up to ten
    supporters who said they vote in its commune, those of its polling station first: the
    choice, its record and the messages in one transaction. Returns the asks queued."""
    now = now or clock.utcnow()
    notices: list[Notice] = []
    async with db.fast_write() as tx:
        await tx.one(SERIALIZE)  # two ticks at once would both pick the same person
        week_ago = now - ASK_EVERY
        waiting = [_READ_WAITING(row) for row in await tx.all(
            _WAITING, campaign_id=campaign.id, made_before=now - ASK_AFTER,
            per_need=ASKS_PER_NEED, week_ago=week_ago, needs=NEEDS_PER_TICK)]
        for need in waiting:
            if not _dates_ahead(need, now):
                continue
            people = [int(uid) for (uid,) in await tx.all(
                _NEAREST, need=need.id, insee=need.commune_insee, station=need.station,
                owner=need.user_id or 0, week_ago=week_ago, room=ASKS_PER_NEED - need.asked)]
            # Recorded one need at a time: the next need's choice sees this one's asks.
            await tx.many(_RECORD, [{"need_id": need.id, "user_id": uid,
                                     "asked_at": tx.value(now)} for uid in people])
            notices += [Notice(f"proxy-ask:{need.id}:{uid}", NoticeKind.PROXY_ASK, uid,
                               {"need": need.id}, True) for uid in people]
        await queue_in(tx, notices)
    return len(notices)


# ---- what the ask and its answer read of the need --------------------------------------------

@dataclass(frozen=True)
class AskedNeed:
    """A need as the people asked about it see it: a first name, never a phone or a
    surname; `waiting` while it is open and in no live match."""

    id: int
    first_name: str
    commune_insee: str
    station: str
    rounds_mask: int
    rounds: list[dict[str, Any]] | None
    timezone: str
    waiting: bool

    def round_names(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """(name, date) of its rounds still to come."""
        today = (now or clock.utcnow()).astimezone(ZoneInfo(self.timezone)).date().isoformat()
        return [(r["name"], r["date"]) for i, r in enumerate(stored_rounds(self.rounds))
                if self.rounds_mask & (1 << i) and r["date"] > today]


_ASKED_NEED = SQL.of(
    f"SELECT {columns(AskedNeed)} FROM (SELECT n.id AS id, n.first_name AS first_name, "
    "n.commune_insee AS commune_insee, n.station AS station, n.rounds_mask AS rounds_mask, "
    "c.rounds AS rounds, c.timezone AS timezone, "
    f"CASE WHEN n.status = {OPEN} AND NOT EXISTS (SELECT 1 FROM proxy_match m "
    f"WHERE m.need_id = n.id AND m.status IN ({LIVE_MATCH})) THEN 1 ELSE 0 END AS waiting "
    "FROM proxy_request n JOIN campaign c ON c.id = n.campaign_id "
    "JOIN proxy_ask a ON a.need_id = n.id AND a.user_id = :user_id "
    f"WHERE n.id = :need_id AND n.kind = {NEED}) AS asked")
_READ_ASKED_NEED = reader(AskedNeed)


async def asked_need(db: Database, need_id: int, user_id: int) -> AskedNeed | None:
    """The need `user_id` was asked about; None if they were not (an old or forged button)
    or it is gone."""
    async with db.fast_read() as tx:
        row = await tx.one(_ASKED_NEED, need_id=need_id, user_id=user_id)
    if row is None:
        return None
    need = _READ_ASKED_NEED(row)
    # The first word of the first name: the person asked is a stranger to them.
    first = need.first_name.split()[0] if need.first_name.split() else ""
    return AskedNeed(need.id, first, need.commune_insee, need.station, need.rounds_mask,
                     need.rounds, need.timezone, bool(need.waiting))


# ---- the organizers' evening line --------------------------------------------------------------

@dataclass(frozen=True)
class _Department:
    department: str
    needs: int


_LONG_UNMATCHED = SQL.of(
    f"SELECT {columns(_Department)} FROM (SELECT n.department AS department, "
    "count(*) AS needs FROM proxy_request n "
    f"WHERE n.kind = {NEED} AND n.status = {OPEN} AND n.campaign_id = :campaign_id "
    "AND n.created_at <= :made_before AND NOT EXISTS (SELECT 1 FROM proxy_match m "
    f"WHERE m.need_id = n.id AND m.status IN ({LIVE_MATCH})) "
    "GROUP BY n.department) AS late ORDER BY needs DESC, department")
_READ_DEPARTMENT = reader(_Department)


async def long_unmatched(db: Database, campaign: Campaign,
                         now: datetime | None = None) -> list[tuple[str, int]]:
    """(department, needs) unmatched for more than 48 hours, the most first."""
    now = now or clock.utcnow()
    async with db.fast_read() as tx:
        rows = await tx.all(_LONG_UNMATCHED, campaign_id=campaign.id,
                            made_before=now - SUMMARY_AFTER)
    return [(d.department, int(d.needs)) for d in map(_READ_DEPARTMENT, rows)]

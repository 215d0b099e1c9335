"""Counts for volunteers (/me) and the campaign's day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage import clock
from storage.calling.hours import open_zones
from storage.campaigns import local_day_start
from storage.database import Database
from storage.driver import SQL, Tx, read_time
from storage.models import EPOCH, RELEASE_OUTCOMES, Campaign, ContactStatus, ProxyMatchStatus
from storage.rows import reader

# Skips and abandons are cards given back, not calls.
_A_CALL = "outcome NOT IN ({})".format(
    ", ".join(f"'{outcome}'" for outcome in sorted(RELEASE_OUTCOMES)))
# Written out as the partial queue indexes have it (SQLite matches them word for word).
_OPEN = f"'{ContactStatus.OPEN}'"


async def _count(tx: Tx, sql: SQL, **params: Any) -> int:
    row = await tx.one(sql, **params)
    assert row is not None  # an aggregate always answers
    (count,) = row
    return int(count)


@dataclass(frozen=True)
class VolunteerCounts:
    today: dict[str, int]
    total: dict[str, int]
    campaign_today: int
    campaign_morning: int

    @property
    def today_calls(self) -> int:
        return sum(self.today.values())

    @property
    def total_calls(self) -> int:
        return sum(self.total.values())


_MY_CALLS_BY_OUTCOME = {
    "today": SQL.of("SELECT outcome, count(*) FROM call WHERE volunteer_id = :volunteer_id "
                    f"AND created_at >= :day AND {_A_CALL} GROUP BY outcome"),
    "ever": SQL.of("SELECT outcome, count(*) FROM call WHERE volunteer_id = :volunteer_id "
                   f"AND {_A_CALL} GROUP BY outcome"),
}


@dataclass(frozen=True)
class CampaignDay:
    today: int
    morning: int


_CAMPAIGN_DAY = SQL.of(
    "SELECT count(*) AS today, COALESCE(sum(CASE WHEN created_at < :noon THEN 1 ELSE 0 END), "
    f"0) AS morning FROM call WHERE campaign_id = :campaign_id AND {_A_CALL} "
    "AND created_at >= :day")
_READ_CAMPAIGN_DAY = reader(CampaignDay)


async def volunteer_counts(db: Database, campaign: Campaign, volunteer_id: int,
                           now: datetime | None = None) -> VolunteerCounts:
    now = now or clock.utcnow()
    day = local_day_start(campaign, now)
    noon = day + timedelta(hours=13)  # "this morning": calls before 13:00 local
    # Long: the campaign's day is a busy day's 200,000 calls.
    async with db.fast_read(long=True) as tx:
        today = await tx.all(_MY_CALLS_BY_OUTCOME["today"], volunteer_id=volunteer_id, day=day)
        total = await tx.all(_MY_CALLS_BY_OUTCOME["ever"], volunteer_id=volunteer_id)
        row = await tx.one(_CAMPAIGN_DAY, noon=noon, campaign_id=campaign.id, day=day)
    assert row is not None  # an aggregate always answers
    campaign_day = _READ_CAMPAIGN_DAY(row)
    return VolunteerCounts({str(outcome): int(n) for outcome, n in today},
                           {str(outcome): int(n) for outcome, n in total},
                           campaign_day.today, campaign_day.morning)


@dataclass(frozen=True)
class OrganizerStats:
    today: int
    morning: int
    afternoon: int
    by_outcome: dict[str, int]
    by_room: dict[str, int]
    by_hour_room: dict[int, dict[str, int]]  # local hour -> room -> calls
    queue_left: int
    waiting_local_hours: int  # of queue_left: their calling hours are closed where they live
    active_volunteers: int
    proxies_matched: int
    new_supporters: int
    calls_joined_today: int = 0  # calls whose contact opened the link sent after them
    calls_joined: int = 0


@dataclass(frozen=True)
class HourCount:
    room: str | None
    hour: str | datetime  # the hour's start: text on SQLite ("2026-06-10 08")
    outcome: str
    calls: int


# Each call carries its room (see storage.calling.calls.INSERT_CALL). On SQLite the grouping
# follows ix_call_campaign_hour column for column, so the day's calls are counted straight
# off the index, with no sort; the day starts at its UTC hour (a zone with a half-hour
# offset counts from half an hour earlier).
_CALLS_BY_HOUR_ROOM = SQL.dialects(
    "SELECT room, substr(created_at, 1, 13) AS hour, outcome, count(*) AS calls FROM call "
    "WHERE campaign_id = :campaign_id AND substr(created_at, 1, 13) >= substr(:day, 1, 13) "
    f"AND {_A_CALL} GROUP BY substr(created_at, 1, 13), room, outcome",
    "SELECT room, date_trunc('hour', created_at) AS hour, outcome, count(*) AS calls "
    f"FROM call WHERE campaign_id = :campaign_id AND created_at >= :day AND {_A_CALL} "
    "GROUP BY 1, 2, 3")
_HOUR_COUNT = reader(HourCount)
# In two parts, each along its own partial index: those in the queue now, and those waiting
# for their time (contact.waiting).
_QUEUE_LEFT = SQL.of(
    "SELECT (SELECT count(*) FROM contact WHERE campaign_id = :campaign_id "
    f"AND status = {_OPEN} AND NOT waiting) + (SELECT count(*) FROM contact "
    f"WHERE waiting AND status = {_OPEN} AND campaign_id = :campaign_id)")
# Queued contacts with a clock of their own, by zone, off their partial index (a few per cent
# of the list): those whose zone is closed now wait for their local hours.
_ELSEWHERE = SQL.of(
    "SELECT zone, count(*) FROM contact WHERE campaign_id = :campaign_id AND zone <> '' "
    f"AND status = {_OPEN} AND NOT waiting GROUP BY zone")
_ACTIVE = SQL.of(
    "SELECT count(*) FROM (SELECT held_by AS v FROM contact WHERE held_by IS NOT NULL "
    "UNION SELECT volunteer_id FROM call WHERE campaign_id = :campaign_id "
    "AND created_at >= :since) a")
_MATCHED = (ProxyMatchStatus.ACCEPTED, ProxyMatchStatus.CONFIRMED, ProxyMatchStatus.REGISTERED)
_PROXIES = SQL.of("SELECT count(*) FROM proxy_match WHERE status IN ({})".format(
    ", ".join(f"'{status}'" for status in _MATCHED)))
_CALLS_JOINED = SQL.of("SELECT count(*) FROM contact_link WHERE campaign_id = :campaign_id "
                       "AND used_at IS NOT NULL AND used_at >= :since")


async def calls_joined_in(tx: Tx, campaign_id: int | None, since: datetime = EPOCH) -> int:
    """Calls that became supporters on Telegram (the contact opened the link sent after
    the call) since `since`: /stats, /web and the wall count them one way."""
    return await _count(tx, _CALLS_JOINED, campaign_id=campaign_id, since=since)


_NEW = SQL.of("SELECT count(*) FROM users WHERE created_at >= :since AND id > 0")


async def organizer_stats(db: Database, campaign: Campaign,
                          now: datetime | None = None) -> OrganizerStats:
    """What /stats shows: the day's calls by half-day, outcome, room and hour, and the
    campaign's pulse (queue, active volunteers, proxies, new supporters)."""
    now = now or clock.utcnow()
    day = local_day_start(campaign, now)
    async with db.fast_read(long=True) as tx:
        calls = await day_calls(tx, campaign, now)
        queue = await _count(tx, _QUEUE_LEFT, campaign_id=campaign.id)
        elsewhere = await tx.all(_ELSEWHERE, campaign_id=campaign.id)
        active = await _count(tx, _ACTIVE, campaign_id=campaign.id,
                              since=now - timedelta(minutes=15))
        proxies = await _count(tx, _PROXIES)
        new = await _count(tx, _NEW, since=day)
        joined_today = await calls_joined_in(tx, campaign.id, day)
        joined = await calls_joined_in(tx, campaign.id)
    return OrganizerStats(today=calls.today, morning=calls.morning,
                          afternoon=calls.afternoon, by_outcome=calls.by_outcome,
                          by_room=calls.by_room, by_hour_room=calls.by_hour_room,
                          queue_left=queue,
                          waiting_local_hours=_closed(campaign, elsewhere, now),
                          active_volunteers=active,
                          proxies_matched=proxies, new_supporters=new,
                          calls_joined_today=joined_today, calls_joined=joined)


def _closed(campaign: Campaign, by_zone: list[Sequence[Any]], now: datetime) -> int:
    """How many of the contacts counted by zone are outside calling hours there now."""
    zones = open_zones(campaign.calling_start, campaign.calling_end, now).zones
    return sum(int(count) for zone, count in by_zone if zone not in zones)


@dataclass(frozen=True)
class DayCalls:
    """The day's calls (skips and abandons are not calls), as /stats and the wall show
    them; a call without a room is "remote"."""

    today: int
    morning: int  # before 13:00, the campaign's time
    afternoon: int
    by_outcome: dict[str, int]
    by_room: dict[str, int]
    by_room_morning: dict[str, int]
    by_hour_room: dict[int, dict[str, int]]  # local hour -> room -> calls


async def day_calls(tx: Tx, campaign: Campaign, now: datetime) -> DayCalls:
    """The day's calls by half-day, outcome, room and local hour, in the caller's
    transaction."""
    rows = await tx.all(_CALLS_BY_HOUR_ROOM, campaign_id=campaign.id,
                        day=local_day_start(campaign, now))
    tz = ZoneInfo(campaign.timezone)
    noon = (now.astimezone(tz).replace(hour=13, minute=0, second=0, microsecond=0)
            ).astimezone(ZoneInfo("UTC"))
    by_outcome: dict[str, int] = {}
    by_room: dict[str, int] = {}
    by_room_morning: dict[str, int] = {}
    by_hour: dict[int, dict[str, int]] = {}
    for count in map(_HOUR_COUNT, rows):
        hour = count.hour
        moment = read_time(hour + ":00:00" if isinstance(hour, str) else hour)
        assert moment is not None
        room = count.room or "remote"
        n = int(count.calls)
        by_outcome[str(count.outcome)] = by_outcome.get(str(count.outcome), 0) + n
        by_room[room] = by_room.get(room, 0) + n
        local_hour = moment.astimezone(tz).hour
        by_hour.setdefault(local_hour, {})[room] = by_hour.get(local_hour, {}).get(room, 0) + n
        if moment < noon:
            by_room_morning[room] = by_room_morning.get(room, 0) + n
    morning = sum(by_room_morning.values())
    today = sum(by_room.values())
    return DayCalls(today=today, morning=morning, afternoon=today - morning,
                    by_outcome=by_outcome, by_room=by_room, by_room_morning=by_room_morning,
                    by_hour_room=dict(sorted(by_hour.items())))


MILESTONES = (10, 50, 100, 250, 500, 1000)
_MY_CALLS = SQL.of(f"SELECT count(*) FROM call WHERE volunteer_id = :volunteer_id AND {_A_CALL}")
_MY_DAYS = SQL.of("SELECT created_at FROM call WHERE volunteer_id = :volunteer_id "
                  f"AND created_at >= :since AND {_A_CALL}")


async def milestone_reached(db: Database, volunteer_id: int) -> int | None:
    """The milestone (10, 50, 100... calls) this volunteer's last call reached, if any."""
    async with db.fast_read() as tx:
        total = await _count(tx, _MY_CALLS, volunteer_id=volunteer_id)
    return total if total in MILESTONES else None


async def calling_streak(db: Database, campaign: Campaign, volunteer_id: int,
                         now: datetime | None = None) -> int:
    """Consecutive days with calls, ending today (or yesterday: today is not over)."""
    now = now or clock.utcnow()
    tz = ZoneInfo(campaign.timezone)
    async with db.fast_read() as tx:
        rows = await tx.all(_MY_DAYS, volunteer_id=volunteer_id, since=now - timedelta(days=120))
    days = {moment.astimezone(tz).date() for (value,) in rows
            if (moment := read_time(value)) is not None}
    day = now.astimezone(tz).date()
    if day not in days:
        day -= timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak


@dataclass(frozen=True)
class CallerRanking:
    """Today's callers by calls, for the volunteers' leaderboard."""

    top: list[tuple[int, str, int]]  # place (shared by a tie), first name, calls today
    my_rank: int | None  # None: no call today, or left out of the rankings
    my_calls: int
    top_ids: tuple[int, ...] = ()  # who `top` names, in its order (never shown)


@dataclass(frozen=True)
class CallerCount:
    volunteer_id: int
    first_name: str | None
    calls: int


# Those who asked to be left out (the same choice as for recruiters) and the erased are not
# ranked; skips and abandons are not calls.
# Counted first, then joined: joined call by call, SQLite looked the caller up 200,000
# times on a busy day.
_CALLERS_TODAY = SQL.of(
    "SELECT c.volunteer_id, u.first_name, c.calls FROM (SELECT volunteer_id, count(*) AS calls "
    "FROM call WHERE campaign_id = :campaign_id AND created_at >= :day "
    f"AND {_A_CALL} GROUP BY volunteer_id) c JOIN users u ON u.id = c.volunteer_id "
    "WHERE NOT u.leaderboard_opt_out AND NOT u.forgotten ORDER BY c.calls DESC, c.volunteer_id")
_CALLER_COUNT = reader(CallerCount)


async def callers_today(db: Database, campaign: Campaign, volunteer_id: int, size: int = 10,
                        now: datetime | None = None) -> CallerRanking:
    """The day's top callers, and where this volunteer stands. Ties share a rank."""
    now = now or clock.utcnow()
    # Long: a busy day's 200,000 calls take tens of milliseconds, too long for the event loop.
    async with db.fast_read(long=True) as tx:
        rows = await tx.all(_CALLERS_TODAY, campaign_id=campaign.id,
                            day=local_day_start(campaign, now))
    ranked: list[tuple[int, int, str, int]] = []  # rank, volunteer, first name, calls
    for place, caller in enumerate(map(_CALLER_COUNT, rows), start=1):
        rank = ranked[-1][0] if ranked and ranked[-1][3] == caller.calls else place
        ranked.append((rank, caller.volunteer_id, caller.first_name or "", caller.calls))
    mine = next((r for r in ranked if r[1] == volunteer_id), None)
    return CallerRanking([(rank, name, calls) for rank, _u, name, calls in ranked[:size]],
                         mine[0] if mine else None, mine[3] if mine else 0,
                         tuple(volunteer for _r, volunteer, _n, _c in ranked[:size]))

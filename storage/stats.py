"""Counts for volunteers (/me) and the campaign's day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from storage import clock
from storage.campaigns import local_day_start
from storage.database import Database
from storage.driver import SQL
from storage.models import RELEASE_OUTCOMES, Call, Campaign

call_t = Call.__table__  # type: ignore[attr-defined]
_RELEASES = [o.value for o in RELEASE_OUTCOMES]


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


async def _by_outcome(session, *conditions) -> dict[str, int]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        select(call_t.c.outcome, func.count()).where(
            *conditions, call_t.c.outcome.not_in(_RELEASES)).group_by(call_t.c.outcome))
    return {outcome: count for outcome, count in rows}


async def volunteer_counts(db: Database, campaign: Campaign, volunteer_id: int,
                           now: datetime | None = None) -> VolunteerCounts:
    now = now or clock.utcnow()
    day = local_day_start(campaign, now)
    noon = day + timedelta(hours=13)  # "this morning": calls before 13:00 local
    async with db.read() as session:
        mine = call_t.c.volunteer_id == volunteer_id
        today = await _by_outcome(session, mine, call_t.c.created_at >= day)
        total = await _by_outcome(session, mine)
        campaign_calls = select(func.count()).where(
            call_t.c.campaign_id == campaign.id, call_t.c.outcome.not_in(_RELEASES),
            call_t.c.created_at >= day)
        campaign_today = (await session.execute(campaign_calls)).scalar_one()
        campaign_morning = (await session.execute(
            campaign_calls.where(call_t.c.created_at < noon))).scalar_one()
    return VolunteerCounts(today, total, campaign_today, campaign_morning)


@dataclass(frozen=True)
class OrganizerStats:
    today: int
    morning: int
    afternoon: int
    by_outcome: dict[str, int]
    by_room: dict[str, int]
    by_hour_room: dict[int, dict[str, int]]  # local hour -> room -> calls
    queue_left: int
    active_volunteers: int
    proxies_matched: int
    new_supporters: int


# Each call carries its room (see storage.calling.INSERT_CALL). On SQLite the grouping
# follows ix_call_campaign_hour column for column, so the day's calls are counted straight
# off the index, with no sort; the day starts at its UTC hour (a zone with a half-hour
# offset counts from half an hour earlier).
_CALLS_BY_HOUR_ROOM = SQL(
    "SELECT room, substr(created_at, 1, 13), outcome, count(*) FROM call "
    "WHERE campaign_id = ? AND substr(created_at, 1, 13) >= substr(?, 1, 13) "
    "AND outcome NOT IN ('skipped', 'abandoned') "
    "GROUP BY substr(created_at, 1, 13), room, outcome",
    "SELECT room, date_trunc('hour', created_at), outcome, count(*) FROM call "
    "WHERE campaign_id = $1 AND created_at >= $2 AND outcome NOT IN ('skipped', 'abandoned') "
    "GROUP BY 1, 2, 3")
# In two parts, each along its own partial index: those in the queue now, and those waiting
# for their time (contact.waiting).
_QUEUE_LEFT = SQL.of(
    "SELECT (SELECT count(*) FROM contact WHERE campaign_id = ? AND status = 'open' "
    "AND NOT waiting) + (SELECT count(*) FROM contact WHERE waiting AND status = 'open' "
    "AND campaign_id = ?)")
_ACTIVE = SQL.of(
    "SELECT count(*) FROM (SELECT held_by AS v FROM contact WHERE held_by IS NOT NULL "
    "UNION SELECT volunteer_id FROM call WHERE campaign_id = ? AND created_at >= ?) a")
_PROXIES = SQL.of("SELECT count(*) FROM proxy_match WHERE status IN "
                  "('accepted', 'confirmed', 'registered')")
_NEW = SQL.of("SELECT count(*) FROM users WHERE created_at >= ? AND id > 0")


async def organizer_stats(db: Database, campaign: Campaign,
                          now: datetime | None = None) -> OrganizerStats:
    """What /stats shows: the day's calls by half-day, outcome, room and hour, and the
    campaign's pulse (queue, active volunteers, proxies, new supporters)."""
    from zoneinfo import ZoneInfo

    from storage.driver import read_time

    now = now or clock.utcnow()
    day = local_day_start(campaign, now)
    noon = (now.astimezone(ZoneInfo(campaign.timezone)).replace(
        hour=13, minute=0, second=0, microsecond=0)).astimezone(ZoneInfo("UTC"))
    tz = ZoneInfo(campaign.timezone)
    async with db.fast_read(long=True) as tx:
        rows = await tx.all(_CALLS_BY_HOUR_ROOM, campaign.id, day)
        queue = await tx.one(_QUEUE_LEFT, campaign.id, campaign.id)
        active = await tx.one(_ACTIVE, campaign.id, now - timedelta(minutes=15))
        proxies = await tx.one(_PROXIES)
        new = await tx.one(_NEW, day)
    by_outcome: dict[str, int] = {}
    by_room: dict[str, int] = {}
    by_hour: dict[int, dict[str, int]] = {}
    morning = afternoon = 0
    for room, hour, outcome, count in rows:
        moment = read_time(hour + ":00:00" if isinstance(hour, str) else hour)
        assert moment is not None
        room = room or "remote"
        n = int(count)
        by_outcome[str(outcome)] = by_outcome.get(str(outcome), 0) + n
        by_room[room] = by_room.get(room, 0) + n
        local_hour = moment.astimezone(tz).hour
        by_hour.setdefault(local_hour, {})[room] = by_hour.get(local_hour, {}).get(room, 0) + n
        if moment < noon:
            morning += n
        else:
            afternoon += n
    return OrganizerStats(
        today=morning + afternoon, morning=morning, afternoon=afternoon,
        by_outcome=by_outcome, by_room=by_room, by_hour_room=dict(sorted(by_hour.items())),
        queue_left=int(queue[0]) if queue else 0, active_volunteers=int(active[0]) if active
        else 0, proxies_matched=int(proxies[0]) if proxies else 0,
        new_supporters=int(new[0]) if new else 0)


MILESTONES = (10, 50, 100, 250, 500, 1000)
_MY_CALLS = SQL.of("SELECT count(*) FROM call WHERE volunteer_id = ? "
                   "AND outcome NOT IN ('skipped', 'abandoned')")
_MY_DAYS = SQL.of("SELECT created_at FROM call WHERE volunteer_id = ? AND created_at >= ? "
                  "AND outcome NOT IN ('skipped', 'abandoned')")


async def milestone_reached(db: Database, volunteer_id: int) -> int | None:
    """The milestone (10, 50, 100... calls) this volunteer's last call reached, if any."""
    async with db.fast_read() as tx:
        row = await tx.one(_MY_CALLS, volunteer_id)
    total = int(row[0]) if row else 0
    return total if total in MILESTONES else None


async def calling_streak(db: Database, campaign: Campaign, volunteer_id: int,
                         now: datetime | None = None) -> int:
    """Consecutive days with calls, ending today (or yesterday: today is not over)."""
    from zoneinfo import ZoneInfo

    from storage.driver import read_time

    now = now or clock.utcnow()
    tz = ZoneInfo(campaign.timezone)
    async with db.fast_read() as tx:
        rows = await tx.all(_MY_DAYS, volunteer_id, now - timedelta(days=120))
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


# Those who asked to be left out (the same choice as for recruiters) and the erased are not
# ranked; skips and abandons are not calls.
# Counted first, then joined: joined call by call, SQLite looked the caller up 200,000
# times on a busy day.
_CALLERS_TODAY = SQL.of(
    "SELECT c.volunteer_id, u.first_name, c.calls FROM ("
    "SELECT volunteer_id, count(*) AS calls FROM call WHERE campaign_id = ? "
    "AND created_at >= ? AND outcome NOT IN ('skipped', 'abandoned') GROUP BY volunteer_id"
    ") c JOIN users u ON u.id = c.volunteer_id "
    "WHERE NOT u.leaderboard_opt_out AND NOT u.forgotten ORDER BY c.calls DESC, c.volunteer_id")


async def callers_today(db: Database, campaign: Campaign, volunteer_id: int, size: int = 10,
                        now: datetime | None = None) -> CallerRanking:
    """The day's top callers, and where this volunteer stands. Ties share a rank."""
    now = now or clock.utcnow()
    # Long: a busy day's 200,000 calls take tens of milliseconds, too long for the event loop.
    async with db.fast_read(long=True) as tx:
        rows = await tx.all(_CALLERS_TODAY, campaign.id, local_day_start(campaign, now))
    ranked: list[tuple[int, int, str, int]] = []  # rank, volunteer, first name, calls
    for place, (uid, name, calls) in enumerate(rows, start=1):
        rank = ranked[-1][0] if ranked and ranked[-1][3] == calls else place
        ranked.append((rank, int(uid), str(name or ""), int(calls)))
    mine = next((r for r in ranked if r[1] == volunteer_id), None)
    return CallerRanking([(rank, name, calls) for rank, _u, name, calls in ranked[:size]],
                         mine[0] if mine else None, mine[3] if mine else 0)

"""What organizers see of the web (/web): its size, its growth by day and generation, and
who brought the most."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from storage import clock
from storage.campaigns import local_day_start
from storage.database import Database
from storage.driver import SQL, Tx, read_time
from storage.models import Campaign
from storage.rows import columns, reader
from storage.stats import calls_joined_in
from storage.web.links import GOAL

LEADERBOARD_SIZE = 10

@dataclass(frozen=True)
class WebStats:
    supporters: int
    today: int
    recruited: int  # supporters who came through someone's link
    reached_goal: int  # supporters who brought three or more
    depth: int  # the deepest generation (0: only people who came on their own)
    by_day_generation: dict[date, dict[int, int]]  # joins per local day, per generation
    top: list[tuple[str, int]]  # (first name, recruits), opted-out and erased left out
    from_calls: int = 0  # supporters who came through the link sent after their call
    from_calls_today: int = 0

    @property
    def branching(self) -> float:
        """Recruits per supporter: above 1, the web grows by itself."""
        return self.recruited / self.supporters if self.supporters else 0.0

    @property
    def by_day(self) -> dict[date, int]:
        return {day: sum(gens.values()) for day, gens in self.by_day_generation.items()}


@dataclass(frozen=True)
class Totals:
    supporters: int
    today: int
    recruited: int
    reached_goal: int
    depth: int


@dataclass(frozen=True)
class Leader:
    first_name: str
    recruits: int


@dataclass(frozen=True)
class HourJoins:
    hour: object  # text on SQLite ("YYYY-MM-DD HH"), a timestamp on PostgreSQL
    generation: int
    joins: int


_TOTALS_ROW, _LEADER, _HOUR_JOINS = reader(Totals), reader(Leader), reader(HourJoins)
_TOTALS = SQL.of(
    "SELECT count(*) AS supporters, coalesce(sum(CASE WHEN created_at >= :day_start "
    "AND created_at < :day_end THEN 1 ELSE 0 END), 0) AS today, "
    "coalesce(sum(CASE WHEN referred_by IS NOT NULL THEN 1 ELSE 0 END), 0) AS recruited, "
    "coalesce(sum(CASE WHEN recruits >= :goal THEN 1 ELSE 0 END), 0) AS reached_goal, "
    "coalesce(max(generation), 0) AS depth FROM users")
# Joins per UTC hour and generation: a few thousand rows at most, turned into local days in
# Python, so that the time zone (and its daylight saving) needs no SQL of either dialect.
_BY_HOUR = SQL.dialects(
    "SELECT substr(created_at, 1, 13) AS hour, generation, count(*) AS joins "
    "FROM users GROUP BY 1, 2",
    "SELECT date_trunc('hour', created_at) AS hour, generation, count(*) AS joins "
    "FROM users GROUP BY 1, 2")
_TOP = SQL.of(
    f"SELECT {columns(Leader)} FROM users WHERE recruits > 0 "
    "AND NOT leaderboard_opt_out AND NOT forgotten ORDER BY recruits DESC, id LIMIT :size")


def _hour(value: object) -> datetime:
    if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH"
        value = value + ":00:00"
    moment = read_time(value)
    assert moment is not None
    return moment


async def web_totals(tx: Tx, campaign: Campaign, now: datetime) -> Totals:
    """The web's size, who joined today (the campaign's day), and more, in the caller's
    transaction."""
    row = await tx.one(_TOTALS, day_start=local_day_start(campaign, now),
                       day_end=local_day_start(campaign, now, days_later=1), goal=GOAL)
    assert row is not None  # an aggregate always answers
    return _TOTALS_ROW(row)


async def web_stats(db: Database, campaign: Campaign, now: datetime | None = None) -> WebStats:
    now = now or clock.utcnow()
    tz = ZoneInfo(campaign.timezone)
    async with db.fast_read(long=True) as tx:
        totals = await web_totals(tx, campaign, now)
        hours = [_HOUR_JOINS(row) for row in await tx.all(_BY_HOUR)]
        top = [_LEADER(leader) for leader in await tx.all(_TOP, size=LEADERBOARD_SIZE)]
        from_calls = await calls_joined_in(tx, campaign.id)
        from_calls_today = await calls_joined_in(tx, campaign.id, local_day_start(campaign, now))
    by_day: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for joins in hours:
        day = _hour(joins.hour).astimezone(tz).date()
        by_day[day][int(joins.generation)] += int(joins.joins)
    return WebStats(
        supporters=int(totals.supporters), today=int(totals.today),
        recruited=int(totals.recruited), reached_goal=int(totals.reached_goal),
        depth=int(totals.depth),
        by_day_generation={day: dict(gens) for day, gens in sorted(by_day.items())},
        top=[(leader.first_name, int(leader.recruits)) for leader in top],
        from_calls=from_calls, from_calls_today=from_calls_today)


def growth_days(stats: WebStats, days: int = 14) -> list[date]:
    """The last `days` days that had joins, oldest first (for a readable chart)."""
    return sorted(stats.by_day_generation)[-days:]

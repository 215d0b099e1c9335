"""What the wall shows: the campaign's day in figures that name nobody.

Counts only, and the day's top callers by first name (the first word of it, and none that
holds a digit or an @: a first name field can hold anything), leaving out whoever left the
rankings. No numbers, surnames or usernames: the room's visitors see the screen too.

A call is what /stats calls one (storage.stats.day_calls: skips and abandons are not), the
day and "this morning" (before 13:00) are the campaign's own."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from storage import clock
from storage.campaigns import local_day_start
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import Campaign, Outcome, ProxyMatchStatus
from storage.stats import callers_today, calls_joined_in, day_calls
from storage.web.figures import web_totals

CALLS_MILESTONE = 500  # every 500th call of the day is celebrated on screen
PROXIES_MILESTONE = 50  # and every 50th proxy matched in the campaign
TOP_CALLERS = 10
NAME_MAX = 20
REMOTE = "remote"  # a call made outside any room's shift (storage.stats.day_calls)
# A call that ended on a yes: the person will vote, or will help. (That a callee then
# joined the bot is not recorded: the call and the person are not linked.)
YES = (Outcome.WILL_VOTE, Outcome.WANTS_TO_VOLUNTEER, Outcome.NEEDS_PROXY,
       Outcome.CAN_CARRY_PROXY)

_MATCHED = ", ".join(f"'{s}'" for s in (ProxyMatchStatus.ACCEPTED, ProxyMatchStatus.CONFIRMED,
                                         ProxyMatchStatus.REGISTERED))
# Accepted by both sides (decided_at is that moment), in this campaign.
_PROXIES = SQL.of(
    "SELECT count(*) AS total, COALESCE(sum(CASE WHEN m.decided_at >= :day THEN 1 ELSE 0 END), "
    "0) AS today FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
    f"WHERE m.status IN ({_MATCHED}) AND n.campaign_id = :campaign_id")
# Shifts are not a campaign's: the rooms with a shift today, wherever it is.
_ROOMS_TODAY = SQL.of(
    "SELECT DISTINCT room FROM shift WHERE NOT cancelled AND starts_at < :day_end "
    "AND ends_at > :day")
_ROOMS_FROM_TODAY = SQL.of(
    "SELECT DISTINCT room FROM shift WHERE NOT cancelled AND ends_at > :day")


@dataclass(frozen=True)
class RoomFigures:
    name: str  # "remote": calls outside any room's shift
    today: int
    morning: int
    afternoon: int
    goal: int  # 0: no goal of its own


@dataclass(frozen=True)
class Caller:
    place: int  # shared by a tie
    name: str  # "" when the first name could not be shown
    calls: int


@dataclass(frozen=True)
class WallFigures:
    campaign: str
    day: str  # the campaign's date, ISO
    updated: str  # HH:MM, the campaign's time
    today: int
    morning: int
    afternoon: int
    goal: int
    rooms: list[RoomFigures]
    hours: dict[str, dict[str, int]]  # local hour ("9") -> room -> calls
    first_hour: int  # the calling hours, for the chart's axis
    last_hour: int
    said_yes: int
    proxies_today: int
    proxies_total: int
    supporters_today: int
    supporters_total: int
    calls_joined_today: int  # calls that became supporters: the contact opened their link
    calls_milestone: int  # the last milestone reached today (0: none yet)
    proxies_milestone: int
    top: list[Caller]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def shown_name(first_name: str) -> str:
    """The first word of a first name, if it is one: nothing with a digit or an @."""
    words = first_name.split()
    word = words[0] if words else ""
    if any(c.isdigit() for c in word) or "@" in word:
        return ""
    return word[:NAME_MAX]


def _room_order(campaign: Campaign, rooms: set[str]) -> list[str]:
    goals = list(campaign.room_goals)
    return sorted(rooms, key=lambda r: (r == REMOTE, goals.index(r) if r in goals
                                        else len(goals), r.casefold()))


async def _rooms_with_shifts(tx: Tx, campaign: Campaign, now: datetime) -> set[str]:
    rows = await tx.all(_ROOMS_TODAY, day=local_day_start(campaign, now),
                        day_end=local_day_start(campaign, now, days_later=1))
    return {str(room) for (room,) in rows}


async def wall_rooms(db: Database, campaign: Campaign,
                     now: datetime | None = None) -> list[str]:
    """The rooms a screen may show alone: those with a goal, or a shift from today on."""
    async with db.fast_read() as tx:
        rows = await tx.all(_ROOMS_FROM_TODAY, day=local_day_start(campaign, now))
    rooms = {str(room) for (room,) in rows} | set(campaign.room_goals)
    return _room_order(campaign, rooms - {REMOTE})


@dataclass(frozen=True)
class TopCallers:
    """The top callers as read at one moment: whom they name is kept, never shown, so
    that a reading kept a while can be checked against whoever has left since."""

    callers: list[Caller]
    day: str  # the campaign's date they were read on
    volunteer_ids: tuple[int, ...]


# Those of the named still in the rankings: by primary key, TOP_CALLERS lookups at most.
_STILL_RANKED = SQL.of(
    "SELECT count(*) FROM users WHERE NOT leaderboard_opt_out AND NOT forgotten AND id IN ("
    + ", ".join(f":v{i}" for i in range(TOP_CALLERS)) + ")")


async def top_callers(db: Database, campaign: Campaign,
                      now: datetime | None = None) -> TopCallers:
    """The day's top callers, as the wall names them. The dearest of the figures (60-260 ms
    on SQLite over a busy day's 200,000 calls): the hub reads it less often."""
    now = now or clock.utcnow()
    ranking = await callers_today(db, campaign, 0, size=TOP_CALLERS, now=now)
    return TopCallers([Caller(place, shown_name(name), n) for place, name, n in ranking.top],
                      _local_day(campaign, now), ranking.top_ids)


async def top_still_holds(db: Database, campaign: Campaign, top: TopCallers,
                          now: datetime | None = None) -> bool:
    """Whether a reading of the top callers may still be shown: the same day, and nobody it
    names has left the rankings or been erased since (they leave the screen at once)."""
    if top.day != _local_day(campaign, now or clock.utcnow()):
        return False
    if not top.volunteer_ids:
        return True
    slots = {f"v{i}": 0 for i in range(TOP_CALLERS)}  # 0: nobody's id
    slots.update({f"v{i}": uid for i, uid in enumerate(top.volunteer_ids)})
    async with db.fast_read() as tx:
        row = await tx.one(_STILL_RANKED, **slots)
    assert row is not None  # an aggregate always answers
    return int(row[0]) == len(set(top.volunteer_ids))


def _local_day(campaign: Campaign, now: datetime) -> str:
    return now.astimezone(ZoneInfo(campaign.timezone)).date().isoformat()


async def wall_figures(db: Database, campaign: Campaign, now: datetime | None = None,
                       top: TopCallers | None = None) -> WallFigures:
    """The wall's figures now; `top`, the top callers read a moment ago, if given."""
    now = now or clock.utcnow()
    # Long: a busy day's 200,000 calls and the whole web are counted, off the event loop.
    async with db.fast_read(long=True) as tx:
        calls = await day_calls(tx, campaign, now)
        web = await web_totals(tx, campaign, now)
        proxies = await tx.one(_PROXIES, day=local_day_start(campaign, now),
                               campaign_id=campaign.id)
        rooms = await _rooms_with_shifts(tx, campaign, now)
        calls_joined = await calls_joined_in(tx, campaign.id, local_day_start(campaign, now))
    assert proxies is not None  # an aggregate always answers
    proxies_total, proxies_today = (int(n) for n in proxies)
    if top is None:
        top = await top_callers(db, campaign, now)
    names = _room_order(campaign, rooms | set(calls.by_room) | set(campaign.room_goals))
    local = now.astimezone(ZoneInfo(campaign.timezone))
    return WallFigures(
        campaign=campaign.name, day=local.date().isoformat(), updated=f"{local:%H:%M}",
        today=calls.today, morning=calls.morning, afternoon=calls.afternoon,
        goal=campaign.daily_goal,
        rooms=[RoomFigures(name, calls.by_room.get(name, 0), calls.by_room_morning.get(name, 0),
                           calls.by_room.get(name, 0) - calls.by_room_morning.get(name, 0),
                           campaign.room_goals.get(name, 0)) for name in names],
        hours={str(hour): rooms_ for hour, rooms_ in calls.by_hour_room.items()},
        first_hour=time.fromisoformat(campaign.calling_start).hour,
        last_hour=time.fromisoformat(campaign.calling_end).hour,
        said_yes=sum(calls.by_outcome.get(o, 0) for o in YES),
        proxies_today=proxies_today, proxies_total=proxies_total,
        supporters_today=int(web.today), supporters_total=int(web.supporters),
        calls_joined_today=calls_joined,
        calls_milestone=calls.today // CALLS_MILESTONE * CALLS_MILESTONE,
        proxies_milestone=proxies_total // PROXIES_MILESTONE * PROXIES_MILESTONE,
        top=top.callers)

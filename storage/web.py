"""The spider's web: invite codes, who brought whom, pledges, and the web's counts.

Counts are kept as the web grows (each person's generation and recruit count are written at
attribution), so /web reads a few aggregates instead of walking the tree.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from storage import clock
from storage.campaigns import local_day_start
from storage.database import Database
from storage.driver import SQL, read_time
from storage.models import Campaign
from storage.outbox import Notice, NoticeKind, queue_in
from storage.personal import rejoin_key

GOAL = 3  # everyone brings three
# Deep-link payloads: at most 64 characters of A-Za-z0-9_- (Telegram's own limit).
PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
CODE_BYTES = 12  # 16 url-safe characters: 96 random bits, unguessable
LEADERBOARD_SIZE = 10


def new_invite_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


_CODE_OF = SQL.of("SELECT invite_code FROM users WHERE id = :id")
# A code someone holds already is not taken: the row keeps no code, and another is drawn.
# (The unique index's error is the driver's own, which nothing here could catch by one name.)
_SET_CODE = SQL.of("UPDATE users SET invite_code = :code WHERE id = :id AND invite_code IS NULL "
                   "AND NOT EXISTS (SELECT 1 FROM users other WHERE other.invite_code = :code)")


async def invite_code(db: Database, user_id: int) -> str:
    """The person's own invite code, made the first time it is asked for."""
    async with db.fast_read() as tx:
        row = await tx.one(_CODE_OF, id=user_id)
    if row is None:
        raise LookupError(user_id)
    for _draw in range(3):
        (code,) = row
        if code:
            return str(code)
        async with db.fast_write() as tx:
            await tx.run(_SET_CODE, code=new_invite_code(), id=user_id)
            row = await tx.one(_CODE_OF, id=user_id)
        if row is None:  # erased meanwhile
            return ""
    (code,) = row
    if code:
        return str(code)
    raise RuntimeError("could not draw a unique invite code")


@dataclass(frozen=True)
class Attribution:
    """A new person joined through someone's link."""

    referrer_id: int
    recruits: int  # the referrer's count, this join included
    # False: someone forgotten, back through the same link, who was counted already.
    counted: bool = True


_REFERRER = SQL.of("SELECT id, generation FROM users WHERE invite_code = ?")
# referred_by IS NULL: the first referrer wins, even when two joins race.
_ATTACH = SQL.of("UPDATE users SET referred_by = ?, generation = ? "
                 "WHERE id = ? AND referred_by IS NULL AND recruits = 0 AND id <> ?")
_COUNT_RECRUIT = SQL.of("UPDATE users SET recruits = recruits + 1 WHERE id = ? RETURNING recruits")
_RECRUITS = SQL.of("SELECT recruits FROM users WHERE id = ?")
_FORGOTTEN_NODE = SQL.of("SELECT id, recruits FROM users WHERE rejoin_key = ? "
                         "AND referred_by = ? AND forgotten")
_DROP_NODE = SQL.of("DELETE FROM users WHERE id = ?")
# A node that brought people before keeps them, out of the referrer's count.
_DETACH_NODE = SQL.of("UPDATE users SET rejoin_key = NULL, referred_by = NULL WHERE id = ?")


async def attribute_referral(db: Database, new_user_id: int, payload: str, *,
                             rejoin_secret: bytes | None = None) -> Attribution | None:
    """Record that `new_user_id` came through the link with this payload, and queue the
    referrer's "joined through you" in the same transaction.

    The caller passes only people who have just arrived; anything else (an unknown or
    malformed code, one's own code, a person already attributed) changes nothing and
    returns None. Someone who erased their data and comes back through the same link takes
    their anonymous node's place: not counted, nobody told (needs the bot's secret, which
    made the node's key)."""
    if not PAYLOAD.fullmatch(payload):
        return None
    async with db.fast_write() as tx:
        referrer = await tx.one(_REFERRER, payload)
        if referrer is None or referrer[0] == new_user_id:
            return None
        referrer_id, generation = int(referrer[0]), int(referrer[1])
        if not await tx.run(_ATTACH, referrer_id, generation + 1, new_user_id, referrer_id):
            return None
        if rejoin_secret is not None:
            node = await tx.one(_FORGOTTEN_NODE,
                                rejoin_key(rejoin_secret, new_user_id, referrer_id), referrer_id)
            if node is not None:
                await tx.run(_DETACH_NODE if node[1] else _DROP_NODE, node[0])
                row = await tx.one(_RECRUITS, referrer_id)
                return Attribution(referrer_id, int(row[0]) if row else 0, counted=False)
        row = await tx.one(_COUNT_RECRUIT, referrer_id)
        recruits = int(row[0]) if row else 0
        # Keyed by the count, not by the newcomer: an outbox key names its recipient only.
        await queue_in(tx, [Notice(f"web-joined:{referrer_id}:{recruits}",
                                   NoticeKind.WEB_JOINED, referrer_id,
                                   {"recruit": new_user_id, "n": recruits})])
    return Attribution(referrer_id, recruits)


@dataclass(frozen=True)
class Progress:
    code: str
    recruits: list[str]  # first names, in the order they joined ("" for someone erased)
    leaderboard_opt_out: bool

    @property
    def count(self) -> int:
        return len(self.recruits)


_RECRUITS_OF = SQL.of("SELECT first_name, forgotten FROM users WHERE referred_by = ? "
                      "ORDER BY created_at, id")
_OPT_OUT = SQL.of("SELECT leaderboard_opt_out FROM users WHERE id = ?")


async def progress(db: Database, user_id: int) -> Progress:
    code = await invite_code(db, user_id)
    async with db.fast_read() as tx:
        rows = await tx.all(_RECRUITS_OF, user_id)
        opt = await tx.one(_OPT_OUT, user_id)
    return Progress(code, ["" if forgotten else str(name) for name, forgotten in rows],
                    bool(opt[0]) if opt else False)


_SET_OPT_OUT = SQL.of("UPDATE users SET leaderboard_opt_out = ? WHERE id = ? "
                      "AND leaderboard_opt_out <> ?")


async def set_leaderboard_opt_out(db: Database, user_id: int, opt_out: bool) -> bool:
    """Leave the rankings (or come back). False if it was so already: a double tap."""
    async with db.fast_write() as tx:
        return await tx.run(_SET_OPT_OUT, opt_out, user_id, opt_out) == 1


# ---- the vote-tripling pledge ---------------------------------------------------------------

MAX_NAME = 40


class PledgeError(ValueError):
    """Not three usable first names; `reason` says why: "count", "long" or "digits"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_pledge_names(text: str) -> list[str]:
    """Three first names, written one per line or separated by commas (or "et"/"and")."""
    parts = re.split(r"[,;\n]+|\s+(?:et|and|&)\s+", text.strip())
    names = [" ".join(p.split()) for p in parts if p.strip()]
    if len(names) != GOAL:
        raise PledgeError("count")
    if any(len(n) > MAX_NAME for n in names):
        raise PledgeError("long")
    if any(_has_number(n) for n in names):  # a phone number is not a first name
        raise PledgeError("digits")
    return names


def _has_number(name: str) -> bool:
    """Any character of Unicode's Number categories (Nd, Nl, No): ASCII and Arabic-Indic
    digits, superscripts ⁰⁶, fullwidth ０６, circled ⑥... Han numerals such as 一 are letters
    (Lo) that names use: they stay."""
    return any(unicodedata.category(c).startswith("N") for c in name)


async def save_pledge(db: Database, user_id: int, names: list[str]) -> None:
    from storage.models import Pledge

    async with db.write() as session:
        pledge = await session.get(Pledge, user_id)
        if pledge is None:
            session.add(Pledge(user_id=user_id, names=names))
        else:
            pledge.names = names
            pledge.created_at = clock.utcnow()


async def pledge_names(db: Database, user_id: int) -> list[str] | None:
    from storage.models import Pledge

    async with db.read() as session:
        pledge = await session.get(Pledge, user_id)
        return list(pledge.names) if pledge else None


async def confirm_pledge_round(db: Database, user_id: int, round_date: str) -> bool:
    """The supporter reminded their three before this round. True the first time only."""
    from storage.models import PledgeRound

    try:
        async with db.write() as session:
            if await session.get(PledgeRound, (user_id, round_date)) is not None:
                return False
            session.add(PledgeRound(user_id=user_id, round_date=round_date))
        return True
    except IntegrityError:  # two presses at once
        return False


# ---- what organizers see --------------------------------------------------------------------

@dataclass(frozen=True)
class WebStats:
    supporters: int
    today: int
    recruited: int  # supporters who came through someone's link
    reached_goal: int  # supporters who brought three or more
    depth: int  # the deepest generation (0: only people who came on their own)
    by_day_generation: dict[date, dict[int, int]]  # joins per local day, per generation
    top: list[tuple[str, int]]  # (first name, recruits), opted-out and erased left out

    @property
    def branching(self) -> float:
        """Recruits per supporter: above 1, the web grows by itself."""
        return self.recruited / self.supporters if self.supporters else 0.0

    @property
    def by_day(self) -> dict[date, int]:
        return {day: sum(gens.values()) for day, gens in self.by_day_generation.items()}


_TOTALS = SQL.of(
    "SELECT count(*), "
    "coalesce(sum(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN referred_by IS NOT NULL THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN recruits >= ? THEN 1 ELSE 0 END), 0), "
    "coalesce(max(generation), 0) FROM users")
# Joins per UTC hour and generation: a few thousand rows at most, turned into local days in
# Python, so that the time zone (and its daylight saving) needs no SQL of either dialect.
_BY_HOUR = SQL(
    "SELECT substr(created_at, 1, 13), generation, count(*) FROM users GROUP BY 1, 2",
    "SELECT date_trunc('hour', created_at), generation, count(*) FROM users GROUP BY 1, 2")
_TOP = SQL.of(
    "SELECT first_name, recruits FROM users WHERE recruits > 0 "
    "AND NOT leaderboard_opt_out AND NOT forgotten ORDER BY recruits DESC, id LIMIT ?")


def _hour(value: object) -> datetime:
    if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH"
        value = value + ":00:00"
    moment = read_time(value)
    assert moment is not None
    return moment


async def web_stats(db: Database, campaign: Campaign, now: datetime | None = None) -> WebStats:
    now = now or clock.utcnow()
    tz = ZoneInfo(campaign.timezone)
    async with db.fast_read(long=True) as tx:
        totals = await tx.one(_TOTALS, local_day_start(campaign, now),
                              local_day_start(campaign, now, days_later=1), GOAL)
        hours = await tx.all(_BY_HOUR)
        top = await tx.all(_TOP, LEADERBOARD_SIZE)
    assert totals is not None
    by_day: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for hour, generation, count in hours:
        by_day[_hour(hour).astimezone(tz).date()][int(generation)] += int(count)
    return WebStats(
        supporters=int(totals[0]), today=int(totals[1]), recruited=int(totals[2]),
        reached_goal=int(totals[3]), depth=int(totals[4]),
        by_day_generation={day: dict(gens) for day, gens in sorted(by_day.items())},
        top=[(str(name), int(n)) for name, n in top])


def growth_days(stats: WebStats, days: int = 14) -> list[date]:
    """The last `days` days that had joins, oldest first (for a readable chart)."""
    return sorted(stats.by_day_generation)[-days:]


# ---- nudges and reminders: planned as outbox rows -------------------------------------------

_NUDGE_DUE = (
    "FROM users WHERE recruits < 3 AND nudges_sent < 3 AND nudges_sent < ? "
    "AND NOT stopped AND NOT blocked AND NOT forgotten AND id > 0 "
    "AND (last_nudge_at IS NULL OR last_nudge_at < ?) "
    "AND ((nudges_sent = 0 AND created_at <= ?) OR (nudges_sent = 1 AND created_at <= ?) "
    "OR (nudges_sent = 2 AND created_at <= ?))")
_DUE_NUDGES = SQL.of(f"SELECT id, nudges_sent {_NUDGE_DUE} ORDER BY id LIMIT ?")
_COUNT_NUDGE = SQL.of("UPDATE users SET nudges_sent = ?, last_nudge_at = ? "
                      "WHERE id = ? AND nudges_sent = ?")
NUDGE_BATCH = 1000
NEVER = datetime(1970, 1, 2, tzinfo=ZoneInfo("UTC"))  # a join date no one has


async def plan_nudges(db: Database, campaign: Campaign, now: datetime | None = None) -> int:
    """Queue today's nudges: a supporter short of three gets the n-th nudge `nudge_days[n]`
    days after joining, at most one a day. Each is an outbox row keyed by person and number,
    counted on the person in the same transaction: planning twice queues nothing twice."""
    now = now or clock.utcnow()
    days = list(campaign.nudge_days or [])
    if not days:
        return 0
    # A list shorter than three: the later nudges are never due.
    thresholds = [now - timedelta(days=d) for d in days] + [NEVER] * (3 - len(days))
    day_start = local_day_start(campaign, now)
    planned = 0
    while True:
        async with db.fast_write(long=True) as tx:
            due = await tx.all(_DUE_NUDGES, len(days), day_start, *thresholds, NUDGE_BATCH)
            if not due:
                return planned
            stamp = tx.value(now)
            await queue_in(tx, [Notice(f"nudge:{uid}:{sent + 1}", NoticeKind.NUDGE, uid, {}, True)
                                for uid, sent in due], due_at=now)
            await tx.many(_COUNT_NUDGE, [(sent + 1, stamp, uid, sent) for uid, sent in due])
        planned += len(due)
        if len(due) < NUDGE_BATCH:
            return planned

_PLEDGERS = SQL.of(
    "SELECT p.user_id FROM pledge p JOIN users u ON u.id = p.user_id "
    "WHERE NOT u.stopped AND NOT u.blocked AND NOT u.forgotten")


def round_tomorrow(campaign: Campaign, now: datetime | None = None) -> dict[str, str] | None:
    """The election round that takes place tomorrow (campaign time), if any."""
    local_today = (now or clock.utcnow()).astimezone(ZoneInfo(campaign.timezone)).date()
    tomorrow = (local_today + timedelta(days=1)).isoformat()
    return next((r for r in campaign.rounds or [] if r["date"] == tomorrow), None)


async def plan_pledge_reminders(db: Database, campaign: Campaign,
                                now: datetime | None = None) -> int:
    """The day before a round, one reminder per pledge (keyed by person and round, so
    planning again adds nothing). Returns the pledges considered."""
    now = now or clock.utcnow()
    election_round = round_tomorrow(campaign, now)
    if election_round is None:
        return 0
    params = {"round": election_round["date"], "name": election_round["name"]}
    async with db.fast_write(long=True) as tx:
        pledgers = await tx.all(_PLEDGERS)
        await queue_in(tx, [Notice(f"pledge:{uid}:{election_round['date']}",
                                   NoticeKind.PLEDGE_REMINDER, uid, params, True)
                            for (uid,) in pledgers], due_at=now)
    return len(pledgers)

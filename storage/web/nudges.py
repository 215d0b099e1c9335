"""Nudges: a supporter short of three is reminded, at most three times, as outbox rows
planned by the daily tick."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from storage import clock
from storage.campaigns import local_day_start
from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign
from storage.outbox import Notice, NoticeKind, queue_in
from storage.rows import columns, reader
from storage.silence import silence_at
from storage.web.links import GOAL

MAX_NUDGES = 3


@dataclass(frozen=True)
class Due:
    id: int
    nudges_sent: int


_DUE = reader(Due)
# The first conditions repeat ix_users_nudge's literally (or SQLite does not use it).
_DUE_NUDGES = SQL.of(
    f"SELECT {columns(Due)} FROM users WHERE recruits < {GOAL} AND nudges_sent < {MAX_NUDGES} "
    "AND nudges_sent < :planned AND NOT stopped AND NOT blocked AND NOT forgotten AND id > 0 "
    "AND (last_nudge_at IS NULL OR last_nudge_at < :day_start) "
    "AND ((nudges_sent = 0 AND created_at <= :first) OR (nudges_sent = 1 AND created_at <= "
    ":second) OR (nudges_sent = 2 AND created_at <= :third)) ORDER BY id LIMIT :limit")
_COUNT_NUDGE = SQL.of("UPDATE users SET nudges_sent = :sent, last_nudge_at = :now "
                      "WHERE id = :id AND nudges_sent = :before")
NUDGE_BATCH = 1000
NEVER = datetime(1970, 1, 2, tzinfo=ZoneInfo("UTC"))  # a join date no one has


async def plan_nudges(db: Database, campaign: Campaign, now: datetime | None = None) -> int:
    """Queue today's nudges: a supporter short of three gets the n-th nudge `nudge_days[n]`
    days after joining, at most one a day. Each is an outbox row keyed by person and number,
    counted on the person in the same transaction: planning twice queues nothing twice.
    Nothing is planned during an electoral silence: the nudges due wait for its end."""
    now = now or clock.utcnow()
    days = list(campaign.nudge_days or [])
    if not days or silence_at(campaign, now):  # a nudge is a campaign message: none in it
        return 0
        return 0
    # A list shorter than three: the later nudges are never due.
    first, second, third = ([now - timedelta(days=d) for d in days] + [NEVER] * MAX_NUDGES)[
        :MAX_NUDGES]
    day_start = local_day_start(campaign, now)
    planned = 0
    while True:
        async with db.fast_write(long=True) as tx:
            due = [_DUE(row) for row in await tx.all(
                _DUE_NUDGES, planned=len(days), day_start=day_start, first=first,
                second=second, third=third, limit=NUDGE_BATCH)]
            if not due:
                return planned
            stamp = tx.value(now)
            await queue_in(tx, [Notice(f"nudge:{d.id}:{d.nudges_sent + 1}", NoticeKind.NUDGE,
                                       d.id, {}, True) for d in due], due_at=now)
            await tx.many(_COUNT_NUDGE, [{"sent": d.nudges_sent + 1, "now": stamp, "id": d.id,
                                          "before": d.nudges_sent} for d in due])
        planned += len(due)
        if len(due) < NUDGE_BATCH:
            return planned

"""Graduated trust: a volunteer not yet trusted gets a limited number of cards an hour and a
day, and becomes trusted after enough recorded calls without a pause.

Trust never lifts the harvest guard (storage.calling.guard): it holds for everyone. A card
counts once closed (called, skipped or left to expire), as the guard counts it, over a
sliding hour and a sliding day.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.calling.rules import QueueRules
from storage.driver import SQL, Tx, read_time
from storage.models import EPOCH, RELEASE_OUTCOMES
from storage.outbox import Notice, NoticeKind, queue_in
from storage.rows import reader


class CardLimitReached(Exception):  # a state, not an error: no "Error" in its name
    """The volunteer is not trusted yet and had their cards for the hour or the day."""

    def __init__(self, until: datetime, daily: bool) -> None:
        super().__init__(until, daily)
        self.until = until  # when a card is handed out again
        self.daily = daily  # the day's limit, not the hour's


@dataclass(frozen=True)
class CardsClosed:
    last_hour: int
    last_day: int


CARDS_CLOSED = SQL.of(
    "SELECT COALESCE(sum(CASE WHEN created_at > :hour_ago THEN 1 ELSE 0 END), 0) AS last_hour, "
    "count(*) AS last_day FROM call WHERE volunteer_id = :volunteer_id "
    "AND created_at > :day_ago")
_CARDS_CLOSED = reader(CardsClosed)
# The card whose leaving the window frees one: the `skip`-th oldest in it.
NTH_IN_WINDOW = SQL.of(
    "SELECT created_at FROM call WHERE volunteer_id = :volunteer_id AND created_at > :since "
    "ORDER BY created_at LIMIT 1 OFFSET :skip")


async def check_allowance(tx: Tx, rules: QueueRules, volunteer_id: int, now: datetime) -> None:
    """Raise CardLimitReached if an untrusted volunteer had their cards for now."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    row = await tx.one(CARDS_CLOSED, volunteer_id=volunteer_id, hour_ago=now - hour,
                       day_ago=now - day)
    assert row is not None  # an aggregate always answers
    closed = _CARDS_CLOSED(row)
    if closed.last_day >= rules.untrusted_cards_per_day:
        skip = closed.last_day - rules.untrusted_cards_per_day
        raise CardLimitReached(await _frees_at(tx, volunteer_id, now - day, skip, day), True)
    if closed.last_hour >= rules.untrusted_cards_per_hour:
        skip = closed.last_hour - rules.untrusted_cards_per_hour
        raise CardLimitReached(await _frees_at(tx, volunteer_id, now - hour, skip, hour), False)


async def _frees_at(tx: Tx, volunteer_id: int, since: datetime, skip: int,
                    window: timedelta) -> datetime:
    row = await tx.one(NTH_IN_WINDOW, volunteer_id=volunteer_id, since=since, skip=skip)
    assert row is not None  # the count above saw it
    (closed_at,) = row
    closed = read_time(closed_at)
    assert closed is not None
    return closed + window


_RELEASES = ", ".join(f"'{outcome}'" for outcome in sorted(RELEASE_OUTCOMES))
# Recorded calls since the last approval: a resume after a pause starts the count afresh.
CALLS_SINCE_APPROVAL = SQL.of(
    f"SELECT count(*) FROM call WHERE volunteer_id = :volunteer_id AND outcome NOT IN "
    f"({_RELEASES}) AND created_at >= "
    "COALESCE((SELECT approved_at FROM users WHERE id = :volunteer_id), :epoch)")
TRUST = SQL.of("UPDATE users SET trusted = TRUE WHERE id = :volunteer_id AND NOT trusted")


async def trust_in(tx: Tx, volunteer_id: int, now: datetime, *, by_calls: int = 0,
                   tell: bool = True) -> bool:
    """Trust the volunteer and queue their word (unless not `tell`), in the caller's
    transaction; True if it changed. `by_calls`: trust came by itself after that many."""
    if not await tx.run(TRUST, volunteer_id=volunteer_id):
        return False
    if not tell:
        return True
    await queue_in(tx, [Notice(f"trusted:{volunteer_id}:{secrets.token_hex(6)}",
                               NoticeKind.TRUSTED, volunteer_id, {"calls": by_calls}, False)],
                   due_at=now)
    return True


async def trust_if_earned(tx: Tx, rules: QueueRules, volunteer_id: int, now: datetime) -> bool:
    """After a recorded call: trust comes by itself with enough calls since the approval."""
    row = await tx.one(CALLS_SINCE_APPROVAL, volunteer_id=volunteer_id, epoch=EPOCH)
    assert row is not None  # an aggregate always answers
    (calls,) = row
    if int(calls) < rules.calls_to_trust:
        return False
    return await trust_in(tx, volunteer_id, now, by_calls=int(calls))

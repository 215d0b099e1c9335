"""Recording a card's outcome: once, by the volunteer holding it, with what it implies.

The record is a conditional UPDATE on the card's lease, and (contact_id, lease_seq) is
unique among calls, so an old card, a second press or somebody else's card records nothing
and is told why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from storage import clock
from storage.calling.calls import BY_ITS_LEASE, ClosedContact, insert_call, never_call_again
from storage.calling.guard import hold, pause_if_harvesting, too_hasty
from storage.calling.queue import OPEN
from storage.calling.rules import QueueRules
from storage.calling.trust import trust_if_earned
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import (
    FOLLOW_UP_OUTCOMES,
    RELEASE_OUTCOMES,
    RETRY_OUTCOMES,
    ContactStatus,
    Outcome,
)
from storage.rows import columns, reader


class Recorded(StrEnum):
    RECORDED = "recorded"
    HELD = "held"  # a "do not call" waiting for an organizer to confirm it
    ALREADY = "already"  # this card's outcome was recorded before
    NOT_YOURS = "not_yours"  # somebody else's card
    EXPIRED = "expired"  # the lease ended and the contact went back to the queue


@dataclass(frozen=True)
class RecordResult:
    status: Recorded
    contact_first_name: str | None = None
    volunteer_paused: bool = False
    hold_id: int | None = None
    trusted_now: bool = False  # this call brought trust (storage.calling.trust)


_LET_GO = "UPDATE contact SET held_by = NULL, lease_expires_at = NULL"
RECORD_RELEASE = SQL.of(f"{_LET_GO} {BY_ITS_LEASE}")
RECORD_RETRY = SQL.of(
    f"{_LET_GO}, attempts = attempts + 1, status = CASE WHEN attempts + 1 >= :max_attempts "
    f"THEN '{ContactStatus.DONE}' ELSE {OPEN} END, due_at = :due_at, waiting = TRUE, "
    f"last_outcome = :outcome, last_called_at = :now {BY_ITS_LEASE}")
RECORD_CALL_BACK = SQL.of(
    f"{_LET_GO}, attempts = attempts + 1, due_at = :due_at, waiting = TRUE, "
    f"last_outcome = :outcome, last_called_at = :now {BY_ITS_LEASE}")
RECORD_DONE = SQL.of(
    f"{_LET_GO}, attempts = attempts + 1, status = :status, "
    "follow_up = COALESCE(:follow_up, follow_up), last_outcome = :outcome, "
    f"last_called_at = :now {BY_ITS_LEASE}")
_CLOSED = reader(ClosedContact)


def _record_statement(rules: QueueRules, outcome: Outcome, call_back_at: datetime | None,
                      now: datetime) -> tuple[SQL, dict[str, Any]]:
    if outcome in RELEASE_OUTCOMES:
        return RECORD_RELEASE, {}  # not a call: the contact goes back as it was
    if outcome in RETRY_OUTCOMES:
        due = now + timedelta(minutes=rules.retry_delay_minutes)
        return RECORD_RETRY, {"max_attempts": rules.max_attempts, "due_at": due,
                              "outcome": outcome.value, "now": now}
    if outcome is Outcome.CALL_BACK:
        return RECORD_CALL_BACK, {"due_at": call_back_at or now, "outcome": outcome.value,
                                  "now": now}
    status = ContactStatus.DO_NOT_CALL if outcome is Outcome.DO_NOT_CALL else ContactStatus.DONE
    follow_up = outcome.value if outcome in FOLLOW_UP_OUTCOMES else None
    return RECORD_DONE, {"status": status.value, "follow_up": follow_up,
                         "outcome": outcome.value, "now": now}


async def record_outcome(db: Database, rules: QueueRules, volunteer_id: int, contact_id: int,
                         lease_seq: int, outcome: Outcome, call_back_at: datetime | None = None,
                         now: datetime | None = None, *, trusted: bool = True) -> RecordResult:
    """Record a call's outcome (or a skip) for the card (contact_id, lease_seq). A call
    of a volunteer not yet `trusted` may bring trust (storage.calling.trust)."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        if outcome is Outcome.DO_NOT_CALL:
            seconds = await too_hasty(tx, rules, volunteer_id, contact_id, lease_seq, now)
            if seconds is not None:
                held = await hold(tx, rules, volunteer_id, contact_id, lease_seq, seconds, now)
                if held is not None:
                    return RecordResult(Recorded.HELD, held.contact_first_name,
                                        held.volunteer_paused, held.hold_id)
        statement, values = _record_statement(rules, outcome, call_back_at, now)
        card = {"contact_id": contact_id, "volunteer_id": volunteer_id, "lease_seq": lease_seq}
        row = await tx.one(statement, **values, **card)
        if row is None and await _revive_late_card(tx, volunteer_id, contact_id, lease_seq):
            row = await tx.one(statement, **values, **card)
        if row is None:
            return RecordResult(await _why_not(tx, volunteer_id, contact_id, lease_seq))
        contact = _CLOSED(row)
        await insert_call(tx, **card, campaign_id=contact.campaign_id, outcome=outcome, now=now)
        if outcome is Outcome.DO_NOT_CALL:
            await never_call_again(tx, contact.phone, added_by=volunteer_id, now=now)
        paused = await pause_if_harvesting(tx, rules, volunteer_id, now)
        trusted_now = (not trusted and not paused and outcome not in RELEASE_OUTCOMES
                       and await trust_if_earned(tx, rules, volunteer_id, now))
        return RecordResult(Recorded.RECORDED, contact.first_name, paused,
                            trusted_now=trusted_now)


_ABANDONED = f"'{Outcome.ABANDONED}'"
REVIVE_LATE = SQL.of(
    "UPDATE contact SET held_by = :volunteer_id WHERE id = :contact_id "
    f"AND lease_seq = :lease_seq AND held_by IS NULL AND status = {OPEN} "
    "AND EXISTS (SELECT 1 FROM call WHERE contact_id = :contact_id AND lease_seq = :lease_seq "
    f"AND volunteer_id = :volunteer_id AND outcome = {_ABANDONED})")
FORGET_ABANDONED = SQL.of(
    "DELETE FROM call WHERE contact_id = :contact_id AND lease_seq = :lease_seq "
    f"AND outcome = {_ABANDONED}")


async def _revive_late_card(tx: Tx, volunteer_id: int, contact_id: int, lease_seq: int) -> bool:
    """A call longer than the lease: the tick took the card back, but nobody else has it.
    The outcome is still good (a "do not call" above all): give the card back to record it."""
    if not await tx.run(REVIVE_LATE, volunteer_id=volunteer_id, contact_id=contact_id,
                        lease_seq=lease_seq):
        return False
    await tx.run(FORGET_ABANDONED, contact_id=contact_id, lease_seq=lease_seq)
    return True


@dataclass(frozen=True)
class Holder:
    held_by: int | None
    lease_seq: int


RECORDED_BY = SQL.of(
    "SELECT volunteer_id FROM call WHERE contact_id = :contact_id AND lease_seq = :lease_seq "
    f"AND outcome <> {_ABANDONED}")
HOLDER = SQL.of(f"SELECT {columns(Holder)} FROM contact WHERE id = :contact_id")
_HOLDER = reader(Holder)


async def _why_not(tx: Tx, volunteer_id: int, contact_id: int, lease_seq: int) -> Recorded:
    recorded_by = await tx.one(RECORDED_BY, contact_id=contact_id, lease_seq=lease_seq)
    if recorded_by is not None:
        (by,) = recorded_by
        return Recorded.ALREADY if by == volunteer_id else Recorded.NOT_YOURS
    row = await tx.one(HOLDER, contact_id=contact_id)
    holder = _HOLDER(row) if row is not None else None
    if holder is not None and holder.lease_seq == lease_seq and holder.held_by not in (
            None, volunteer_id):
        return Recorded.NOT_YOURS
    return Recorded.EXPIRED

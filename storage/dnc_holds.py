"""Do-not-call presses held by the harvest guard, and the organizers' decision on them.

A ⛔ pressed before anyone could have answered, or beyond the hour's plausible share, does
not put the number on the permanent list at once: the contact waits out of the queue
(status `held`) until an organizer confirms (the number goes on the list, the press counts
as the call it was) or rejects it (the contact goes back to the queue, the press stays a
card given back). Whether the volunteer was paused or declined since changes nothing here:
a hold stays decidable.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import clock
from storage.audit import write_audit_in
from storage.calling.calls import never_call_again
from storage.database import Database
from storage.driver import SQL
from storage.models import ContactStatus, DncHoldStatus, Outcome
from storage.rows import reader


@dataclass(frozen=True)
class HoldView:
    id: int
    status: DncHoldStatus
    volunteer_id: int
    volunteer_name: str | None
    contact_first_name: str | None
    seconds_held: int


_VIEW = SQL.of(
    "SELECT h.id, h.status, h.volunteer_id, u.first_name AS volunteer_name, "
    "c.first_name AS contact_first_name, h.seconds_held "
    "FROM dnc_hold h JOIN contact c ON c.id = h.contact_id "
    "LEFT JOIN users u ON u.id = h.volunteer_id WHERE h.id = :hold_id")
_HOLD_VIEW = reader(HoldView)


async def hold_view(db: Database, hold_id: int) -> HoldView | None:
    async with db.fast_read() as tx:
        row = await tx.one(_VIEW, hold_id=hold_id)
    return _HOLD_VIEW(row) if row is not None else None


@dataclass(frozen=True)
class HoldDecision:
    changed: bool  # False: decided before (by this organizer or another)
    view: HoldView | None


@dataclass(frozen=True)
class Decided:
    contact_id: int
    volunteer_id: int
    lease_seq: int


_HELD = f"'{DncHoldStatus.HELD}'"
_CONTACT_HELD = f"'{ContactStatus.HELD}'"
_DECIDE = SQL.of(
    "UPDATE dnc_hold SET status = :status, decided_by = :decided_by, decided_at = :now "
    f"WHERE id = :hold_id AND status = {_HELD} RETURNING contact_id, volunteer_id, lease_seq")
_DECIDED = reader(Decided)
_CONFIRM_CONTACT = SQL.of(
    f"UPDATE contact SET status = '{ContactStatus.DO_NOT_CALL}', attempts = attempts + 1, "
    f"last_outcome = '{Outcome.DO_NOT_CALL}', last_called_at = :now "
    f"WHERE id = :contact_id AND status = {_CONTACT_HELD} RETURNING phone")
_CONFIRM_CALL = SQL.of(
    f"UPDATE call SET outcome = '{Outcome.DO_NOT_CALL}' "
    "WHERE contact_id = :contact_id AND lease_seq = :lease_seq")
# Back in the queue where it stood; a number put on the list meanwhile is never handed out
# (the claim checks the list).
_REJECT_CONTACT = SQL.of(
    f"UPDATE contact SET status = '{ContactStatus.OPEN}', waiting = FALSE "
    f"WHERE id = :contact_id AND status = {_CONTACT_HELD}")


async def decide_hold(db: Database, hold_id: int, confirm: bool, *,
                      actor_id: int | None) -> HoldDecision:
    """Confirm or reject a held press, once: a second press of either button is moot."""
    now = clock.utcnow()
    status = DncHoldStatus.CONFIRMED if confirm else DncHoldStatus.REJECTED
    async with db.fast_write() as tx:
        row = await tx.one(_DECIDE, status=status.value, decided_by=actor_id, now=now,
                           hold_id=hold_id)
        if row is not None:
            hold = _DECIDED(row)
            if confirm:
                confirmed = await tx.one(_CONFIRM_CONTACT, now=now, contact_id=hold.contact_id)
                if confirmed is not None:
                    (phone,) = confirmed
                    await never_call_again(tx, phone, added_by=hold.volunteer_id, now=now)
                await tx.run(_CONFIRM_CALL, contact_id=hold.contact_id, lease_seq=hold.lease_seq)
            else:
                await tx.run(_REJECT_CONTACT, contact_id=hold.contact_id)
            await write_audit_in(tx, actor_id, "dnc.confirm" if confirm else "dnc.reject",
                                 f"hold={hold_id}", now)
    return HoldDecision(row is not None, await hold_view(db, hold_id))

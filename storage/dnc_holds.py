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
from storage.calling import ADD_DO_NOT_CALL, CLOSE_NUMBER
from storage.database import Database
from storage.driver import SQL


@dataclass(frozen=True)
class HoldView:
    id: int
    status: str  # held | confirmed | rejected
    volunteer_id: int
    volunteer_name: str | None
    contact_first_name: str | None
    seconds_held: int


_VIEW = SQL.of(
    "SELECT h.id, h.status, h.volunteer_id, u.first_name, c.first_name, h.seconds_held "
    "FROM dnc_hold h JOIN contact c ON c.id = h.contact_id "
    "LEFT JOIN users u ON u.id = h.volunteer_id WHERE h.id = ?")


async def hold_view(db: Database, hold_id: int) -> HoldView | None:
    async with db.fast_read() as tx:
        row = await tx.one(_VIEW, hold_id)
    return HoldView(*row) if row is not None else None  # type: ignore[arg-type]


@dataclass(frozen=True)
class HoldDecision:
    changed: bool  # False: decided before (by this organizer or another)
    view: HoldView | None


_DECIDE = SQL.of(
    "UPDATE dnc_hold SET status = ?, decided_by = ?, decided_at = ? "
    "WHERE id = ? AND status = 'held' RETURNING contact_id, volunteer_id, lease_seq")
_CONFIRM_CONTACT = SQL.of(
    "UPDATE contact SET status = 'dnc', attempts = attempts + 1, last_outcome = 'do_not_call', "
    "last_called_at = ? WHERE id = ? AND status = 'held' RETURNING phone")
_CONFIRM_CALL = SQL.of(
    "UPDATE call SET outcome = 'do_not_call' WHERE contact_id = ? AND lease_seq = ?")
# Back in the queue where it stood; a number put on the list meanwhile is never handed out
# (the claim checks the list).
_REJECT_CONTACT = SQL.of(
    "UPDATE contact SET status = 'open', waiting = FALSE WHERE id = ? AND status = 'held'")


async def decide_hold(db: Database, hold_id: int, confirm: bool, *,
                      actor_id: int | None) -> HoldDecision:
    """Confirm or reject a held press, once: a second press of either button is moot."""
    now = clock.utcnow()
    async with db.fast_write() as tx:
        row = await tx.one(_DECIDE, "confirmed" if confirm else "rejected", actor_id, now,
                           hold_id)
        if row is not None:
            contact_id, volunteer_id, lease_seq = row
            if confirm:
                phone = await tx.one(_CONFIRM_CONTACT, now, contact_id)
                if phone is not None:
                    await tx.run(ADD_DO_NOT_CALL, phone[0], now, volunteer_id)
                    await tx.run(CLOSE_NUMBER, phone[0])
                await tx.run(_CONFIRM_CALL, contact_id, lease_seq)
            else:
                await tx.run(_REJECT_CONTACT, contact_id)
            await write_audit_in(tx, actor_id, "dnc.confirm" if confirm else "dnc.reject",
                                 f"hold={hold_id}", now)
    return HoldDecision(row is not None, await hold_view(db, hold_id))

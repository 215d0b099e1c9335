"""What closing a card writes: the contact let go through the card's own lease, a row of
the call log, and for a "do not call" the number on the permanent list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.calling.queue import OPEN
from storage.driver import SQL, Tx
from storage.models import ContactStatus, Outcome, SignupStatus
from storage.rows import columns


@dataclass(frozen=True)
class ClosedContact:
    """What a statement closing a card returns of its contact."""

    campaign_id: int
    phone: str
    first_name: str | None


# The card's lease, still held: an old card, a second press or somebody else's card matches
# nothing.
BY_ITS_LEASE = ("WHERE id = :contact_id AND held_by = :volunteer_id AND lease_seq = :lease_seq "
                f"AND status = {OPEN} RETURNING {columns(ClosedContact)}")
_SIGNED_UP = f"'{SignupStatus.JOINED}', '{SignupStatus.ATTENDED}'"
# The room is the one of the shift the volunteer is signed up to right now, if any.
INSERT_CALL = SQL.of(
    "INSERT INTO call (contact_id, campaign_id, volunteer_id, lease_seq, outcome, created_at, "
    "room) VALUES (:contact_id, :campaign_id, :volunteer_id, :lease_seq, :outcome, :now, "
    "(SELECT sh.room FROM shift_signup s JOIN shift sh ON sh.id = s.shift_id "
    f"WHERE s.user_id = :volunteer_id AND s.status IN ({_SIGNED_UP}) "
    "AND sh.starts_at <= :now AND sh.ends_at > :now AND NOT sh.cancelled "
    "ORDER BY sh.starts_at, sh.id LIMIT 1))")
ADD_DO_NOT_CALL = SQL.of(
    "INSERT INTO do_not_call (phone, added_at, added_by) VALUES (:phone, :now, :added_by) "
    "ON CONFLICT (phone) DO NOTHING")
CLOSE_NUMBER = SQL.of(
    f"UPDATE contact SET status = '{ContactStatus.DO_NOT_CALL}' "
    f"WHERE campaign_id IN (SELECT id FROM campaign) AND phone = :phone AND status = {OPEN}")


async def insert_call(tx: Tx, *, contact_id: int, campaign_id: int, volunteer_id: int,
                      lease_seq: int, outcome: Outcome, now: datetime) -> None:
    await tx.run(INSERT_CALL, contact_id=contact_id, campaign_id=campaign_id,
                 volunteer_id=volunteer_id, lease_seq=lease_seq, outcome=outcome.value, now=now)


async def never_call_again(tx: Tx, phone: str, *, added_by: int, now: datetime) -> None:
    """The list is permanent and global: this number is never called in any campaign, and
    leaves every queue it is in."""
    await tx.run(ADD_DO_NOT_CALL, phone=phone, now=now, added_by=added_by)
    await tx.run(CLOSE_NUMBER, phone=phone)

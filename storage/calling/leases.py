"""Cards whose lease ran out, taken back by the tick: each counts as abandoned by its
holder, towards the harvest guard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage import clock
from storage.calling.calls import insert_call
from storage.calling.guard import PauseReason, pause_if_harvesting
from storage.calling.rules import QueueRules
from storage.database import Database
from storage.driver import SQL
from storage.models import Outcome
from storage.rows import columns, reader


@dataclass(frozen=True)
class ExpiredLease:
    contact_id: int
    volunteer_id: int
    paused: bool


@dataclass(frozen=True)
class Lapsed:
    """A card whose lease ran out, as the contact row has it."""

    id: int
    held_by: int
    lease_seq: int


EXPIRED = SQL.of(
    f"SELECT {columns(Lapsed)} FROM contact WHERE campaign_id = :campaign_id "
    "AND held_by IS NOT NULL AND lease_expires_at <= :now {lock}")
_LAPSED = reader(Lapsed)
RELEASE = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL "
    "WHERE id = :contact_id AND lease_seq = :lease_seq")


async def expire_leases(db: Database, rules: QueueRules,
                        now: datetime | None = None) -> list[ExpiredLease]:
    """Take back cards whose lease ran out; each counts as abandoned by its holder. A pause
    it leads to takes the holder's other card too and queues its messages, all in one
    transaction."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        # Read the holders first: RETURNING would give the new, empty, values.
        lapsed = [_LAPSED(row) for row in
                  await tx.all(EXPIRED, campaign_id=rules.campaign_id, now=now)]
        expired = []
        paused_now: set[int] = set()
        for card in lapsed:
            # A pause just above may have taken this card back already.
            if not await tx.run(RELEASE, contact_id=card.id, lease_seq=card.lease_seq):
                continue
            await insert_call(tx, contact_id=card.id, campaign_id=rules.campaign_id,
                              volunteer_id=card.held_by, lease_seq=card.lease_seq,
                              outcome=Outcome.ABANDONED, now=now)
            if card.held_by not in paused_now and await pause_if_harvesting(
                    tx, rules, card.held_by, now, PauseReason.UNANSWERED):
                paused_now.add(card.held_by)
            expired.append(ExpiredLease(card.id, card.held_by, card.held_by in paused_now))
        return expired

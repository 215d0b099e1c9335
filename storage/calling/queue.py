"""Handing out cards: the claim, the wake-up before it, and the card a volunteer holds.

A contact is held through a lease: `held_by`, `lease_expires_at` and `lease_seq`, bumped at
every hand-out. A card's buttons carry (contact id, lease_seq), so that recording it can
tell an old card, a second press or somebody else's card (storage.calling.outcomes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import clock
from storage.calling.hours import queue_zones_open
from storage.calling.rules import QueueRules
from storage.calling.trust import check_allowance
from storage.database import Database
from storage.driver import SQL
from storage.models import ContactStatus
from storage.rows import columns, reader
from storage.silence import silence_in

# `status = 'open'` is written out as the partial queue index has it: SQLite uses the index
# only when the query repeats its condition word for word.
OPEN = f"'{ContactStatus.OPEN}'"


@dataclass(frozen=True)
class Card:
    """One contact as a volunteer may see it, and the lease that lets them record it."""

    contact_id: int
    lease_seq: int
    phone: str
    first_name: str | None
    last_name: str | None
    constituency: str | None
    commune: str | None
    source: str | None
    attempts: int
    lease_expires_at: datetime
    already_held: bool = False


_READ_CARD = reader(Card)
# A card as the contact row holds it, and whether the volunteer held it already.
_HELD_CARD_COLUMNS = columns(Card, contact_id="id", already_held="TRUE")


# The hot path's statements, written once (see storage.driver for why not through the ORM).
HELD = SQL.of(
    f"SELECT {_HELD_CARD_COLUMNS} FROM contact WHERE held_by = :volunteer_id "
    f"AND campaign_id = :campaign_id AND lease_expires_at > :now AND status = {OPEN} LIMIT 1")
HELD_CARD = SQL.of(
    f"SELECT {_HELD_CARD_COLUMNS} FROM contact WHERE id = :contact_id "
    "AND held_by = :volunteer_id AND lease_seq = :lease_seq AND campaign_id = :campaign_id "
    f"AND status = {OPEN}")
# Contacts called back later or left unanswered wait outside the queue index, flagged
# `waiting`, until due: each claim first wakes those whose time has come, a bounded batch in
# due order. On PostgreSQL a second volunteer waits for the first one's wake-up to commit
# (FOR UPDATE, not SKIP LOCKED): skipped, its rows would look still asleep, and that
# volunteer be told nobody is left. Rows are locked in one total order: no deadlock.
# `waiting AND status = 'open'` is the partial index's condition, repeated word for word.
WAKE_DUE = SQL.of(
    "UPDATE contact SET waiting = FALSE WHERE id IN (SELECT id FROM contact WHERE waiting "
    f"AND status = {OPEN} AND campaign_id = :campaign_id AND due_at <= :now "
    "ORDER BY due_at, id LIMIT 500 {for_update})")
# Only contacts whose zone is open now (storage.calling.hours): the first free one of each
# such zone, along the queue index from that zone's start, then the first of those. A
# contact whose local hours are closed is never stepped over, however many of them the day's
# calls have left at the head of the queue (a walk in plain queue order stepped over each at
# every claim). On PostgreSQL the zones are a LATERAL join, which SQLite does not have (as
# a subquery in the select list, each zone's search ran twice); each zone's first free
# contact stays locked there until the claim commits.
_FIRST_OF_ZONE = (
    "FROM contact c WHERE c.campaign_id = :campaign_id AND c.zone = z.zone "
    f"AND c.status = {OPEN} AND NOT c.waiting AND c.due_at <= :now "
    "AND (c.held_by IS NULL OR c.lease_expires_at <= :now) "
    # Belt and braces: a number put on the list mid-import is never handed out.
    "AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone = c.phone) "
    "ORDER BY c.priority, c.attempts, c.id LIMIT 1")
_CLAIM = (
    "UPDATE contact SET held_by = :volunteer_id, lease_expires_at = :expires_at, "
    "lease_seq = lease_seq + 1 WHERE id = ({first}) "
    f"AND status = {OPEN} AND (held_by IS NULL OR lease_expires_at <= :now) "
    f"RETURNING {columns(Card, contact_id='id', already_held='FALSE')}")
CLAIM = SQL.dialects(
    _CLAIM.replace("{first}", (
        "SELECT id FROM contact WHERE id IN (WITH z(zone) AS (SELECT value FROM "
        f"json_each(:open_zones)) SELECT (SELECT c.id {_FIRST_OF_ZONE}) FROM z) "
        "ORDER BY priority, attempts, id LIMIT 1")),
    _CLAIM.replace("{first}", (
        "SELECT f.id FROM unnest(:open_zones::text[]) AS z(zone) CROSS JOIN LATERAL "
        f"(SELECT c.id, c.priority, c.attempts {_FIRST_OF_ZONE} {{lock}}) f "
        "ORDER BY f.priority, f.attempts, f.id LIMIT 1")))
# PostgreSQL: one volunteer's concurrent taps queue here, so they cannot each claim a card.
SERIALIZE_VOLUNTEER = SQL.of("SELECT pg_advisory_xact_lock(:volunteer_id)")


async def assign_next_contact(db: Database, rules: QueueRules, volunteer_id: int,
                              now: datetime | None = None, *,
                              trusted: bool = True) -> Card | None:
    """The volunteer's held contact if they have one, else the next free one, or None;
    None during an electoral silence (the phone bank says why: handlers.calling). Raises
    CardLimitReached for a volunteer not `trusted` who had their cards for now."""
    now = now or clock.utcnow()
    if silence_in(rules.silences, now) is not None:
        return None
    # The wake-up is committed before the claim: inside the claim's transaction, the rows it
    # wakes would stay locked and unseen by the other volunteers until this claim ends, and
    # those claiming meanwhile would be told nobody is left.
    wake = (WAKE_DUE, {"campaign_id": rules.campaign_id, "now": now})
    async with db.fast_write(committed_first=wake) as tx:
        if not db.is_sqlite:  # SQLite writers are serialized already
            await tx.one(SERIALIZE_VOLUNTEER, volunteer_id=volunteer_id)
        held = await tx.one(HELD, volunteer_id=volunteer_id, campaign_id=rules.campaign_id,
                            now=now)
        if held is not None:
            return _READ_CARD(held)
        if not trusted:
            await check_allowance(tx, rules, volunteer_id, now)
        zones = await queue_zones_open(db, tx, rules.campaign_id, rules.calling_start,
                                       rules.calling_end, now)
        claimed = await tx.one(CLAIM, volunteer_id=volunteer_id,
                               expires_at=now + timedelta(minutes=rules.lease_minutes),
                               campaign_id=rules.campaign_id, now=now,
                               open_zones=zones.param(db.is_sqlite))
        return _READ_CARD(claimed) if claimed is not None else None


async def held_card(db: Database, rules: QueueRules, volunteer_id: int, contact_id: int,
                    lease_seq: int) -> Card | None:
    """The card if this volunteer still holds it (to redraw it, e.g. with a talking point)."""
    async with db.fast_read() as tx:
        row = await tx.one(HELD_CARD, contact_id=contact_id, volunteer_id=volunteer_id,
                           lease_seq=lease_seq, campaign_id=rules.campaign_id)
    return _READ_CARD(row) if row is not None else None


async def current_card(db: Database, rules: QueueRules, volunteer_id: int) -> Card | None:
    """The card a volunteer holds right now, if any (without claiming one)."""
    async with db.fast_read() as tx:
        row = await tx.one(HELD, volunteer_id=volunteer_id, campaign_id=rules.campaign_id,
                           now=clock.utcnow())
    return _READ_CARD(row) if row is not None else None

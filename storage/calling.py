"""The phone-bank queue: hand out one contact at a time, record outcomes, take cards back.

A contact is held through a lease: `held_by`, `lease_expires_at` and `lease_seq`, bumped at
every hand-out. A card's buttons carry (contact id, lease_seq), so an old card, a second
press or somebody else's card can never record twice: the record is a conditional UPDATE,
and (contact_id, lease_seq) is unique among calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, func, insert, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage import clock
from storage.database import Database
from storage.models import (
    FOLLOW_UP_OUTCOMES,
    RELEASE_OUTCOMES,
    RETRY_OUTCOMES,
    Call,
    Campaign,
    Contact,
    ContactStatus,
    DoNotCall,
    Outcome,
    User,
    VolunteerStatus,
)

contact_t = Contact.__table__  # type: ignore[attr-defined]
call_t = Call.__table__  # type: ignore[attr-defined]
dnc_t = DoNotCall.__table__  # type: ignore[attr-defined]
users_t = User.__table__  # type: ignore[attr-defined]

# A literal, not a bound parameter: SQLite uses a partial index only when the query's
# WHERE repeats the index's own condition word for word.
IS_OPEN = literal_column("contact.status") == literal_column("'open'")


@dataclass(frozen=True)
class QueueRules:
    """What the queue needs of a campaign (a plain value, safe to cache between updates)."""

    campaign_id: int
    lease_minutes: int = 15
    retry_delay_minutes: int = 120
    max_attempts: int = 3
    skip_limit_per_hour: int = 10

    @classmethod
    def of(cls, campaign: Campaign) -> QueueRules:
        assert campaign.id is not None
        return cls(campaign.id, campaign.lease_minutes, campaign.retry_delay_minutes,
                   campaign.max_attempts, campaign.skip_limit_per_hour)


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


_CARD_COLUMNS = (
    contact_t.c.id, contact_t.c.lease_seq, contact_t.c.phone, contact_t.c.first_name,
    contact_t.c.last_name, contact_t.c.constituency, contact_t.c.commune, contact_t.c.source,
    contact_t.c.attempts, contact_t.c.lease_expires_at,
)


def _card(row: object, already_held: bool = False) -> Card:
    return Card(*row, already_held=already_held)  # type: ignore[misc]


async def assign_next_contact(db: Database, rules: QueueRules, volunteer_id: int,
                              now: datetime | None = None) -> Card | None:
    """The volunteer's held contact if they have one, else the next free one, or None."""
    now = now or clock.utcnow()
    async with db.write() as session:
        held = (await session.execute(
            select(*_CARD_COLUMNS).where(
                contact_t.c.held_by == volunteer_id,
                contact_t.c.campaign_id == rules.campaign_id,
                contact_t.c.lease_expires_at > now,
                IS_OPEN,
            ).limit(1)
        )).first()
        if held is not None:
            return _card(held, already_held=True)
        return await _claim(session, db.is_sqlite, rules, volunteer_id, now)


async def _claim(session: AsyncSession, is_sqlite: bool, rules: QueueRules,
                 volunteer_id: int, now: datetime) -> Card | None:
    free = or_(contact_t.c.held_by.is_(None), contact_t.c.lease_expires_at <= now)
    pick = (
        select(contact_t.c.id)
        .where(contact_t.c.campaign_id == rules.campaign_id, IS_OPEN,
               contact_t.c.due_at <= now, free)
        .order_by(contact_t.c.priority, contact_t.c.attempts, contact_t.c.id)
        .limit(1)
    )
    if not is_sqlite:
        # Concurrent claimers skip each other's locked rows instead of queueing on them.
        pick = pick.with_for_update(skip_locked=True)
    claimed = (await session.execute(
        update(contact_t)
        .where(contact_t.c.id == pick.scalar_subquery(), IS_OPEN, free)
        .values(held_by=volunteer_id,
                lease_expires_at=now + timedelta(minutes=rules.lease_minutes),
                lease_seq=contact_t.c.lease_seq + 1)
        .returning(*_CARD_COLUMNS)
    )).first()
    return _card(claimed) if claimed is not None else None


class Recorded(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # this card's outcome was recorded before
    NOT_YOURS = "not_yours"  # somebody else's card
    EXPIRED = "expired"  # the lease ended and the contact went back to the queue


@dataclass(frozen=True)
class RecordResult:
    status: Recorded
    contact_first_name: str | None = None
    volunteer_paused: bool = False


async def record_outcome(db: Database, rules: QueueRules, volunteer_id: int, contact_id: int,
                         lease_seq: int, outcome: Outcome, call_back_at: datetime | None = None,
                         now: datetime | None = None) -> RecordResult:
    """Record a call's outcome (or a skip) for the card (contact_id, lease_seq)."""
    now = now or clock.utcnow()
    values: dict[str, object] = {
        "held_by": None, "lease_expires_at": None,
    }
    if outcome in RELEASE_OUTCOMES:
        pass  # the contact goes back as it was: not a call, no attempt spent
    elif outcome in RETRY_OUTCOMES:
        values |= {
            "attempts": contact_t.c.attempts + 1,
            "due_at": now + timedelta(minutes=rules.retry_delay_minutes),
            "status": _done_after(rules.max_attempts),
        }
    elif outcome is Outcome.CALL_BACK:
        values |= {"attempts": contact_t.c.attempts + 1, "due_at": call_back_at or now}
    else:
        values |= {
            "attempts": contact_t.c.attempts + 1,
            "status": ContactStatus.DO_NOT_CALL if outcome is Outcome.DO_NOT_CALL
            else ContactStatus.DONE,
        }
        if outcome in FOLLOW_UP_OUTCOMES:
            values["follow_up"] = outcome.value
    if outcome not in RELEASE_OUTCOMES:
        values |= {"last_outcome": outcome.value, "last_called_at": now}

    async with db.write() as session:
        row = (await session.execute(
            update(contact_t)
            .where(contact_t.c.id == contact_id, contact_t.c.held_by == volunteer_id,
                   contact_t.c.lease_seq == lease_seq, IS_OPEN)
            .values(**values)
            .returning(contact_t.c.campaign_id, contact_t.c.phone, contact_t.c.first_name)
        )).first()
        if row is None:
            return RecordResult(await _why_not(session, volunteer_id, contact_id, lease_seq))
        campaign_id, phone, first_name = row
        await session.execute(insert(call_t).values(
            contact_id=contact_id, campaign_id=campaign_id, volunteer_id=volunteer_id,
            lease_seq=lease_seq, outcome=outcome.value, created_at=now))
        if outcome is Outcome.DO_NOT_CALL:
            await _add_do_not_call(session, db.is_sqlite, phone, volunteer_id, now)
        paused = False
        if outcome in RELEASE_OUTCOMES:
            paused = await _pause_if_harvesting(session, rules, volunteer_id, now)
        return RecordResult(Recorded.RECORDED, first_name, paused)


def _done_after(max_attempts: int):  # type: ignore[no-untyped-def]
    return case((contact_t.c.attempts + 1 >= max_attempts, ContactStatus.DONE.value),
                else_=ContactStatus.OPEN.value)


async def _why_not(session: AsyncSession, volunteer_id: int, contact_id: int,
                   lease_seq: int) -> Recorded:
    recorded_by = (await session.execute(
        select(call_t.c.volunteer_id).where(call_t.c.contact_id == contact_id,
                                            call_t.c.lease_seq == lease_seq)
    )).scalar_one_or_none()
    if recorded_by is not None:
        return Recorded.ALREADY if recorded_by == volunteer_id else Recorded.NOT_YOURS
    holder = (await session.execute(
        select(contact_t.c.held_by, contact_t.c.lease_seq).where(contact_t.c.id == contact_id)
    )).first()
    if holder is not None and holder.lease_seq == lease_seq and holder.held_by not in (
            None, volunteer_id):
        return Recorded.NOT_YOURS
    return Recorded.EXPIRED


async def _add_do_not_call(session: AsyncSession, is_sqlite: bool, phone: str,
                           volunteer_id: int, now: datetime) -> None:
    ins = (sqlite_insert if is_sqlite else pg_insert)(dnc_t).values(
        phone=phone, added_at=now, added_by=volunteer_id)
    await session.execute(ins.on_conflict_do_nothing(index_elements=["phone"]))
    # The list is permanent and global: the same number in any campaign is never called.
    await session.execute(
        update(contact_t).where(contact_t.c.phone == phone, IS_OPEN, contact_t.c.held_by.is_(None))
        .values(status=ContactStatus.DO_NOT_CALL.value))


async def _pause_if_harvesting(session: AsyncSession, rules: QueueRules, volunteer_id: int,
                               now: datetime) -> bool:
    """Pause a volunteer who gave back too many cards in the last hour. True if paused now."""
    released = (await session.execute(
        select(func.count()).select_from(call_t).where(
            call_t.c.volunteer_id == volunteer_id,
            call_t.c.created_at > now - timedelta(hours=1),
            call_t.c.outcome.in_([o.value for o in RELEASE_OUTCOMES]),
        )
    )).scalar_one()
    if released < rules.skip_limit_per_hour:
        return False
    result = await session.execute(
        update(users_t).where(users_t.c.id == volunteer_id,
                              users_t.c.volunteer_status == VolunteerStatus.APPROVED.value)
        .values(volunteer_status=VolunteerStatus.PAUSED.value, paused_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ExpiredLease:
    contact_id: int
    volunteer_id: int
    paused: bool


async def expire_leases(db: Database, rules: QueueRules,
                        now: datetime | None = None) -> list[ExpiredLease]:
    """Take back cards whose lease ran out; each counts as abandoned by its holder."""
    now = now or clock.utcnow()
    async with db.write() as session:
        # RETURNING gives new values, and the holder is what we need: read, then release.
        expired_query = select(contact_t.c.id, contact_t.c.held_by, contact_t.c.lease_seq).where(
            contact_t.c.campaign_id == rules.campaign_id,
            contact_t.c.held_by.is_not(None), contact_t.c.lease_expires_at <= now)
        if not db.is_sqlite:
            expired_query = expired_query.with_for_update(skip_locked=True)
        rows = (await session.execute(expired_query)).all()
        if not rows:
            return []
        await session.execute(
            update(contact_t).where(contact_t.c.id.in_([cid for cid, _, _ in rows]))
            .values(held_by=None, lease_expires_at=None))
        await session.execute(insert(call_t), [
            {"contact_id": cid, "campaign_id": rules.campaign_id, "volunteer_id": vid,
             "lease_seq": seq, "outcome": Outcome.ABANDONED.value, "created_at": now}
            for cid, vid, seq in rows
        ])
        expired = []
        paused_now: set[int] = set()
        for cid, vid, _ in rows:
            if vid not in paused_now and await _pause_if_harvesting(session, rules, vid, now):
                paused_now.add(vid)
            expired.append(ExpiredLease(cid, vid, vid in paused_now))
        return expired


async def held_card(db: Database, rules: QueueRules, volunteer_id: int, contact_id: int,
                    lease_seq: int) -> Card | None:
    """The card if this volunteer still holds it (to redraw it, e.g. with a talking point)."""
    async with db.read() as session:
        row = (await session.execute(
            select(*_CARD_COLUMNS).where(
                contact_t.c.id == contact_id, contact_t.c.held_by == volunteer_id,
                contact_t.c.lease_seq == lease_seq, contact_t.c.campaign_id == rules.campaign_id,
                IS_OPEN)
        )).first()
        return _card(row, already_held=True) if row is not None else None


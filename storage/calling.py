"""The phone-bank queue: hand out one contact at a time, record outcomes, take cards back.

A contact is held through a lease: `held_by`, `lease_expires_at` and `lease_seq`, bumped at
every hand-out. A card's buttons carry (contact id, lease_seq), so an old card, a second
press or somebody else's card can never record twice: the record is a conditional UPDATE,
and (contact_id, lease_seq) is unique among calls.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx, read_time
from storage.models import (
    EPOCH,
    FOLLOW_UP_OUTCOMES,
    RELEASE_OUTCOMES,
    RETRY_OUTCOMES,
    Campaign,
    ContactStatus,
    Outcome,
)
from storage.outbox import Notice, NoticeKind, queue_in, to_organizers


@dataclass(frozen=True)
class QueueRules:
    """What the queue needs of a campaign (a plain value, safe to cache between updates)."""

    campaign_id: int
    lease_minutes: int = 15
    retry_delay_minutes: int = 120
    max_attempts: int = 3
    skip_limit_per_hour: int = 10
    card_limit_per_hour: int = 40

    @classmethod
    def of(cls, campaign: Campaign) -> QueueRules:
        assert campaign.id is not None
        return cls(campaign.id, campaign.lease_minutes, campaign.retry_delay_minutes,
                   campaign.max_attempts, campaign.skip_limit_per_hour,
                   campaign.card_limit_per_hour)

    @property
    def dnc_at_once_per_hour(self) -> int:
        """"Do not call" presses applied without an organizer, an hour: a quarter of the
        cards anyone can go through (most answered calls are not refusals)."""
        return max(1, self.card_limit_per_hour // 4)


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


_CARD_SQL_COLUMNS = ("id, lease_seq, phone, first_name, last_name, constituency, commune, "
                     "source, attempts, lease_expires_at")


def _card(row: Sequence[Any], already_held: bool = False) -> Card:
    *head, expires = row
    return Card(*head, lease_expires_at=read_time(expires), already_held=already_held)  # type: ignore[arg-type]


# The hot path's statements, written once (see storage.driver for why not through the ORM).
# `status = 'open'` stays literal: SQLite uses the partial queue index only when the query
# repeats its condition word for word.
HELD = SQL.of(
    f"SELECT {_CARD_SQL_COLUMNS} FROM contact WHERE held_by = ? AND campaign_id = ? "
    "AND lease_expires_at > ? AND status = 'open' LIMIT 1")
HELD_CARD = SQL.of(
    f"SELECT {_CARD_SQL_COLUMNS} FROM contact WHERE id = ? AND held_by = ? AND lease_seq = ? "
    "AND campaign_id = ? AND status = 'open'")
# Contacts called back later or left unanswered wait outside the queue index, flagged
# `waiting`, until due: each claim first wakes those whose time has come, a bounded batch in
# due order. On PostgreSQL a second volunteer waits for the first one's wake-up to commit
# (FOR UPDATE, not SKIP LOCKED): skipped, its rows would look still asleep, and that
# volunteer be told nobody is left. Rows are locked in one total order: no deadlock.
# `waiting AND status = 'open'` is the partial index's condition, repeated word for word.
_WAKE = SQL.of(
    "UPDATE contact SET waiting = FALSE WHERE id IN (SELECT id FROM contact WHERE waiting "
    "AND status = 'open' AND campaign_id = ? AND due_at <= ? ORDER BY due_at, id LIMIT 500 "
    "{lock})")
WAKE_DUE = SQL(_WAKE.sqlite, _WAKE.postgres.replace("FOR UPDATE SKIP LOCKED", "FOR UPDATE"))
CLAIM = SQL.of(
    "UPDATE contact SET held_by = ?, lease_expires_at = ?, lease_seq = lease_seq + 1 "
    "WHERE id = (SELECT id FROM contact WHERE campaign_id = ? AND status = 'open' "
    "AND NOT waiting AND due_at <= ? AND (held_by IS NULL OR lease_expires_at <= ?) "
    # Belt and braces: a number put on the list mid-import is never handed out.
    "AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone = contact.phone) "
    "ORDER BY priority, attempts, id LIMIT 1 {lock}) "
    "AND status = 'open' AND (held_by IS NULL OR lease_expires_at <= ?) "
    f"RETURNING {_CARD_SQL_COLUMNS}")
_RECORD_WHERE = ("WHERE id = ? AND held_by = ? AND lease_seq = ? AND status = 'open' "
                 "RETURNING campaign_id, phone, first_name")
RECORD_RELEASE = SQL.of(
    f"UPDATE contact SET held_by = NULL, lease_expires_at = NULL {_RECORD_WHERE}")
RECORD_RETRY = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL, attempts = attempts + 1, "
    "status = CASE WHEN attempts + 1 >= ? THEN 'done' ELSE 'open' END, due_at = ?, "
    "waiting = TRUE, "
    f"last_outcome = ?, last_called_at = ? {_RECORD_WHERE}")
RECORD_CALL_BACK = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL, attempts = attempts + 1, "
    f"due_at = ?, waiting = TRUE, last_outcome = ?, last_called_at = ? {_RECORD_WHERE}")
RECORD_DONE = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL, attempts = attempts + 1, "
    "status = ?, follow_up = COALESCE(?, follow_up), last_outcome = ?, last_called_at = ? "
    f"{_RECORD_WHERE}")
# The room is the one of the shift the volunteer is signed up to right now, if any.
INSERT_CALL = SQL.of(
    "INSERT INTO call (contact_id, campaign_id, volunteer_id, lease_seq, outcome, created_at, "
    "room) VALUES (?, ?, ?, ?, ?, ?, (SELECT sh.room FROM shift_signup s JOIN shift sh "
    "ON sh.id = s.shift_id WHERE s.user_id = ? AND s.status IN ('joined', 'attended') "
    "AND sh.starts_at <= ? AND sh.ends_at > ? AND NOT sh.cancelled "
    "ORDER BY sh.starts_at, sh.id LIMIT 1))")
RECORDED_BY = SQL.of("SELECT volunteer_id FROM call WHERE contact_id = ? AND lease_seq = ? "
                     "AND outcome <> 'abandoned'")
HOLDER = SQL.of("SELECT held_by, lease_seq FROM contact WHERE id = ?")
ADD_DO_NOT_CALL = SQL.of(
    "INSERT INTO do_not_call (phone, added_at, added_by) VALUES (?, ?, ?) "
    "ON CONFLICT (phone) DO NOTHING")
CLOSE_NUMBER = SQL.of(
    "UPDATE contact SET status = 'dnc' WHERE campaign_id IN (SELECT id FROM campaign) "
    "AND phone = ? AND status = 'open'")
# The harvest guard's counts, since the last approval too (a volunteer an organizer resumed
# starts afresh): every card seen in the hour, and those given back among them.
_SINCE = ("volunteer_id = ? AND created_at > ? "
          "AND created_at >= COALESCE((SELECT approved_at FROM users WHERE id = ?), ?)")
GUARD_COUNTS = SQL.of(
    "SELECT count(*), COALESCE(sum(CASE WHEN outcome IN ('skipped', 'abandoned') THEN 1 "
    f"ELSE 0 END), 0) FROM call WHERE {_SINCE}")
DNC_LAST_HOUR = SQL.of(f"SELECT count(*) FROM call WHERE {_SINCE} AND outcome = 'do_not_call'")
HELD_LAST_HOUR = SQL.of(f"SELECT count(*) FROM dnc_hold WHERE {_SINCE}")
# A "do not call" needs someone who answered: pressed sooner than this after the card came,
# it waits for an organizer. Dialling and a first sentence take longer.
DNC_MIN_SECONDS = 20
# Held presses an hour that pause the volunteer: one can be a slip, three are a pattern.
HELD_DNC_PAUSE = 3
LEASE_OF = SQL.of("SELECT lease_expires_at FROM contact WHERE id = ? AND held_by = ? "
                  "AND lease_seq = ? AND status = 'open'")
RECORD_HOLD = SQL.of(
    f"UPDATE contact SET held_by = NULL, lease_expires_at = NULL, status = 'held' {_RECORD_WHERE}")
INSERT_HOLD = SQL.of(
    "INSERT INTO dnc_hold (contact_id, volunteer_id, lease_seq, seconds_held, status, "
    "created_at) VALUES (?, ?, ?, ?, 'held', ?) RETURNING id")
# PostgreSQL: one volunteer's concurrent taps queue here, so they cannot each claim a card.
SERIALIZE_VOLUNTEER = SQL.of("SELECT pg_advisory_xact_lock(?)")
REVIVE_LATE = SQL.of(
    "UPDATE contact SET held_by = ? WHERE id = ? AND lease_seq = ? AND held_by IS NULL "
    "AND status = 'open' AND EXISTS (SELECT 1 FROM call WHERE contact_id = ? AND lease_seq = ? "
    "AND volunteer_id = ? AND outcome = 'abandoned')")
FORGET_ABANDONED = SQL.of(
    "DELETE FROM call WHERE contact_id = ? AND lease_seq = ? AND outcome = 'abandoned'")
PAUSE = SQL.of(
    "UPDATE users SET volunteer_status = 'paused', paused_at = ? "
    "WHERE id = ? AND volunteer_status = 'approved'")
# A volunteer who may no longer call loses their card at once: back in the queue, and its
# buttons stale (lease_seq moves), so a press on it records nothing.
TAKE_CARDS_BACK = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL, lease_seq = lease_seq + 1 "
    "WHERE held_by = ? AND status = 'open'")


class PauseReason(StrEnum):
    SKIPS = "skips"  # gave back many cards
    UNANSWERED = "unanswered"  # let many leases run out
    CARDS = "cards"  # went through more cards than calls can take
    DNC = "dnc"  # "do not call" pressed too fast, again and again


async def take_cards_back(tx: Tx, volunteer_id: int) -> int:
    return await tx.run(TAKE_CARDS_BACK, volunteer_id)


async def pause_volunteer(tx: Tx, volunteer_id: int, reason: PauseReason, count: int,
                          now: datetime) -> bool:
    """Pause an approved volunteer, take their card back and queue the word to organizers
    (with a Resume button) and to them, in the caller's transaction. True if paused now."""
    if await tx.run(PAUSE, now, volunteer_id) == 0:
        return False
    await take_cards_back(tx, volunteer_id)
    key = f"paused:{volunteer_id}:{secrets.token_hex(6)}"  # one pause, one key
    rows = await to_organizers(tx, key, NoticeKind.VOLUNTEER_PAUSED,
                               {"volunteer": volunteer_id, "reason": reason.value,
                                "count": count})
    rows.append(Notice(key,
                       NoticeKind.CALLING_PAUSED, volunteer_id, {"reason": reason.value}, False))
    await queue_in(tx, rows, due_at=now)
    return True


async def assign_next_contact(db: Database, rules: QueueRules, volunteer_id: int,
                              now: datetime | None = None) -> Card | None:
    """The volunteer's held contact if they have one, else the next free one, or None."""
    now = now or clock.utcnow()
    # The wake-up is committed before the claim: inside the claim's transaction, the rows it
    # wakes would stay locked and unseen by the other volunteers until this claim ends, and
    # those claiming meanwhile would be told nobody is left.
    async with db.fast_write(committed_first=(WAKE_DUE, (rules.campaign_id, now))) as tx:
        if not db.is_sqlite:  # SQLite writers are serialized already
            await tx.one(SERIALIZE_VOLUNTEER, volunteer_id)
        held = await tx.one(HELD, volunteer_id, rules.campaign_id, now)
        if held is not None:
            return _card(held, already_held=True)
        claimed = await tx.one(CLAIM, volunteer_id,
                               now + timedelta(minutes=rules.lease_minutes),
                               rules.campaign_id, now, now, now)
        return _card(claimed) if claimed is not None else None


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


def _record_statement(rules: QueueRules, outcome: Outcome, call_back_at: datetime | None,
                      now: datetime) -> tuple[SQL, tuple[Any, ...]]:
    if outcome in RELEASE_OUTCOMES:
        return RECORD_RELEASE, ()  # not a call: the contact goes back as it was
    if outcome in RETRY_OUTCOMES:
        due = now + timedelta(minutes=rules.retry_delay_minutes)
        return RECORD_RETRY, (rules.max_attempts, due, outcome.value, now)
    if outcome is Outcome.CALL_BACK:
        return RECORD_CALL_BACK, (call_back_at or now, outcome.value, now)
    status = ContactStatus.DO_NOT_CALL if outcome is Outcome.DO_NOT_CALL else ContactStatus.DONE
    follow_up = outcome.value if outcome in FOLLOW_UP_OUTCOMES else None
    return RECORD_DONE, (status.value, follow_up, outcome.value, now)


async def _insert_call(tx: Tx, contact_id: int, campaign_id: int, volunteer_id: int,
                       lease_seq: int, outcome: Outcome, now: datetime) -> None:
    await tx.run(INSERT_CALL, contact_id, campaign_id, volunteer_id, lease_seq, outcome.value,
                 now, volunteer_id, now, now)


async def record_outcome(db: Database, rules: QueueRules, volunteer_id: int, contact_id: int,
                         lease_seq: int, outcome: Outcome, call_back_at: datetime | None = None,
                         now: datetime | None = None) -> RecordResult:
    """Record a call's outcome (or a skip) for the card (contact_id, lease_seq)."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        if outcome is Outcome.DO_NOT_CALL:
            seconds = await _too_hasty(tx, rules, volunteer_id, contact_id, lease_seq, now)
            if seconds is not None:
                held = await _hold(tx, rules, volunteer_id, contact_id, lease_seq, seconds, now)
                if held is not None:
                    return held
        statement, values = _record_statement(rules, outcome, call_back_at, now)
        row = await tx.one(statement, *values, contact_id, volunteer_id, lease_seq)
        if row is None and await _revive_late_card(tx, volunteer_id, contact_id, lease_seq):
            row = await tx.one(statement, *values, contact_id, volunteer_id, lease_seq)
        if row is None:
            return RecordResult(await _why_not(tx, volunteer_id, contact_id, lease_seq))
        campaign_id, phone, first_name = row
        await _insert_call(tx, contact_id, campaign_id, volunteer_id, lease_seq, outcome, now)
        if outcome is Outcome.DO_NOT_CALL:
            # The list is permanent and global: this number is never called in any campaign.
            await tx.run(ADD_DO_NOT_CALL, phone, now, volunteer_id)
            await tx.run(CLOSE_NUMBER, phone)
        paused = await _pause_if_harvesting(tx, rules, volunteer_id, now)
        return RecordResult(Recorded.RECORDED, first_name, paused)


async def _since(tx: Tx, sql: SQL, volunteer_id: int, now: datetime) -> Sequence[Any]:
    row = await tx.one(sql, volunteer_id, now - timedelta(hours=1), volunteer_id, EPOCH)
    assert row is not None  # an aggregate always answers
    return row


async def _too_hasty(tx: Tx, rules: QueueRules, volunteer_id: int, contact_id: int,
                     lease_seq: int, now: datetime) -> int | None:
    """The seconds the card was held, if a "do not call" on it is to wait for an organizer:
    pressed before anyone could have answered, or beyond the hour's plausible share."""
    lease = await tx.one(LEASE_OF, contact_id, volunteer_id, lease_seq)
    if lease is None:  # not held now (a late card, a second press): the usual path decides
        return None
    handed_out = read_time(lease[0]) - timedelta(minutes=rules.lease_minutes)  # type: ignore[operator]
    seconds = max(0, int((now - handed_out).total_seconds()))
    if seconds < DNC_MIN_SECONDS:
        return seconds
    applied = (await _since(tx, DNC_LAST_HOUR, volunteer_id, now))[0]
    return seconds if applied >= rules.dnc_at_once_per_hour else None


async def _hold(tx: Tx, rules: QueueRules, volunteer_id: int, contact_id: int, lease_seq: int,
                seconds: int, now: datetime) -> RecordResult | None:
    """Take the contact out of the queue until an organizer decides; the press counts as a
    card given back until then (it is not a call yet). Organizers are asked in the same
    transaction."""
    row = await tx.one(RECORD_HOLD, contact_id, volunteer_id, lease_seq)
    if row is None:
        return None
    campaign_id, _phone, first_name = row
    await _insert_call(tx, contact_id, campaign_id, volunteer_id, lease_seq, Outcome.SKIPPED,
                       now)
    hold = await tx.one(INSERT_HOLD, contact_id, volunteer_id, lease_seq, seconds, now)
    assert hold is not None
    hold_id = int(hold[0])
    await queue_in(tx, await to_organizers(tx, f"dnc-held:{hold_id}", NoticeKind.DNC_HELD,
                                           {"hold": hold_id}), due_at=now)
    held = (await _since(tx, HELD_LAST_HOUR, volunteer_id, now))[0]
    paused = held >= HELD_DNC_PAUSE and await pause_volunteer(
        tx, volunteer_id, PauseReason.DNC, int(held), now)
    if not paused:
        paused = await _pause_if_harvesting(tx, rules, volunteer_id, now)
    return RecordResult(Recorded.HELD, first_name, paused, hold_id)


async def _revive_late_card(tx: Tx, volunteer_id: int, contact_id: int, lease_seq: int) -> bool:
    """A call longer than the lease: the tick took the card back, but nobody else has it.
    The outcome is still good (a "do not call" above all): give the card back to record it."""
    if not await tx.run(REVIVE_LATE, volunteer_id, contact_id, lease_seq, contact_id, lease_seq,
                        volunteer_id):
        return False
    await tx.run(FORGET_ABANDONED, contact_id, lease_seq)
    return True


async def _why_not(tx: Tx, volunteer_id: int, contact_id: int, lease_seq: int) -> Recorded:
    recorded_by = await tx.one(RECORDED_BY, contact_id, lease_seq)
    if recorded_by is not None:
        return Recorded.ALREADY if recorded_by[0] == volunteer_id else Recorded.NOT_YOURS
    holder = await tx.one(HOLDER, contact_id)
    if holder is not None and holder[1] == lease_seq and holder[0] not in (None, volunteer_id):
        return Recorded.NOT_YOURS
    return Recorded.EXPIRED


async def _pause_if_harvesting(tx: Tx, rules: QueueRules, volunteer_id: int, now: datetime,
                               gave_back: PauseReason = PauseReason.SKIPS) -> bool:
    """Pause a volunteer who went through more cards in the last hour than calls can take,
    or gave back too many. True if paused now."""
    cards, released = await _since(tx, GUARD_COUNTS, volunteer_id, now)
    if cards > rules.card_limit_per_hour:
        return await pause_volunteer(tx, volunteer_id, PauseReason.CARDS, int(cards), now)
    if released >= rules.skip_limit_per_hour:
        return await pause_volunteer(tx, volunteer_id, gave_back, int(released), now)
    return False


@dataclass(frozen=True)
class ExpiredLease:
    contact_id: int
    volunteer_id: int
    paused: bool


EXPIRED = SQL.of(
    "SELECT id, held_by, lease_seq FROM contact WHERE campaign_id = ? AND held_by IS NOT NULL "
    "AND lease_expires_at <= ? {lock}")
RELEASE = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL WHERE id = ? AND lease_seq = ?")


async def expire_leases(db: Database, rules: QueueRules,
                        now: datetime | None = None) -> list[ExpiredLease]:
    """Take back cards whose lease ran out; each counts as abandoned by its holder. A pause
    it leads to takes the holder's other card too and queues its messages, all in one
    transaction."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        # Read the holders first: RETURNING would give the new, empty, values.
        rows = await tx.all(EXPIRED, rules.campaign_id, now)
        expired = []
        paused_now: set[int] = set()
        for contact_id, volunteer_id, lease_seq in rows:
            # A pause just above may have taken this card back already.
            if not await tx.run(RELEASE, contact_id, lease_seq):
                continue
            await _insert_call(tx, contact_id, rules.campaign_id, volunteer_id, lease_seq,
                               Outcome.ABANDONED, now)
            if volunteer_id not in paused_now and await _pause_if_harvesting(
                    tx, rules, volunteer_id, now, PauseReason.UNANSWERED):
                paused_now.add(volunteer_id)
            expired.append(ExpiredLease(contact_id, volunteer_id, volunteer_id in paused_now))
        return expired


async def held_card(db: Database, rules: QueueRules, volunteer_id: int, contact_id: int,
                    lease_seq: int) -> Card | None:
    """The card if this volunteer still holds it (to redraw it, e.g. with a talking point)."""
    async with db.fast_read() as tx:
        row = await tx.one(HELD_CARD, contact_id, volunteer_id, lease_seq, rules.campaign_id)
    return _card(row, already_held=True) if row is not None else None


async def current_card(db: Database, rules: QueueRules, volunteer_id: int) -> Card | None:
    """The card a volunteer holds right now, if any (without claiming one)."""
    async with db.fast_read() as tx:
        row = await tx.one(HELD, volunteer_id, rules.campaign_id, clock.utcnow())
    return _card(row, already_held=True) if row is not None else None

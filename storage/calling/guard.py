"""The harvest guard: pauses for going through cards faster than calls take, and
"do not call" presses held for an organizer when pressed too fast or too often.

Every card seen counts (calls, skips, leases left to expire), in the last hour and since the
volunteer's last approval: a volunteer an organizer resumed starts afresh.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from storage.calling.calls import BY_ITS_LEASE, ClosedContact, insert_call
from storage.calling.queue import OPEN
from storage.calling.rules import QueueRules
from storage.driver import SQL, Tx
from storage.models import (
    EPOCH,
    RELEASE_OUTCOMES,
    ContactStatus,
    DncHoldStatus,
    Outcome,
    VolunteerStatus,
)
from storage.outbox import Notice, NoticeKind, queue_in, to_organizers
from storage.rows import reader


class PauseReason(StrEnum):
    SKIPS = "skips"  # gave back many cards
    UNANSWERED = "unanswered"  # let many leases run out
    CARDS = "cards"  # went through more cards than calls can take
    DNC = "dnc"  # "do not call" pressed too fast, again and again


PAUSE = SQL.of(
    f"UPDATE users SET volunteer_status = '{VolunteerStatus.PAUSED}', paused_at = :now "
    f"WHERE id = :volunteer_id AND volunteer_status = '{VolunteerStatus.APPROVED}'")
# A volunteer who may no longer call loses their card at once: back in the queue, and its
# buttons stale (lease_seq moves), so a press on it records nothing.
TAKE_CARDS_BACK = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL, lease_seq = lease_seq + 1 "
    f"WHERE held_by = :volunteer_id AND status = {OPEN}")


async def take_cards_back(tx: Tx, volunteer_id: int) -> int:
    return await tx.run(TAKE_CARDS_BACK, volunteer_id=volunteer_id)


async def pause_volunteer(tx: Tx, volunteer_id: int, reason: PauseReason, count: int,
                          now: datetime) -> bool:
    """Pause an approved volunteer, take their card back and queue the word to organizers
    (with a Resume button) and to them, in the caller's transaction. True if paused now."""
    if await tx.run(PAUSE, now=now, volunteer_id=volunteer_id) == 0:
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


_RELEASES = ", ".join(f"'{outcome}'" for outcome in sorted(RELEASE_OUTCOMES))
# The last hour's, since the last approval too.
_SINCE = ("volunteer_id = :volunteer_id AND created_at > :hour_ago AND created_at >= "
          "COALESCE((SELECT approved_at FROM users WHERE id = :volunteer_id), :epoch)")


@dataclass(frozen=True)
class CardsSeen:
    cards: int
    given_back: int  # skipped, or the lease left to run out


CARDS_SEEN = SQL.of(
    "SELECT count(*) AS cards, COALESCE(sum(CASE WHEN outcome IN "
    f"({_RELEASES}) THEN 1 ELSE 0 END), 0) AS given_back FROM call WHERE {_SINCE}")
_CARDS_SEEN = reader(CardsSeen)
DNC_LAST_HOUR = SQL.of(
    f"SELECT count(*) FROM call WHERE {_SINCE} AND outcome = '{Outcome.DO_NOT_CALL}'")
HELD_LAST_HOUR = SQL.of(f"SELECT count(*) FROM dnc_hold WHERE {_SINCE}")


async def _count_since(tx: Tx, sql: SQL, volunteer_id: int, now: datetime) -> int:
    row = await tx.one(sql, **_since(volunteer_id, now))
    assert row is not None  # an aggregate always answers
    (count,) = row
    return int(count)


def _since(volunteer_id: int, now: datetime) -> dict[str, object]:
    return {"volunteer_id": volunteer_id, "hour_ago": now - timedelta(hours=1), "epoch": EPOCH}


async def pause_if_harvesting(tx: Tx, rules: QueueRules, volunteer_id: int, now: datetime,
                              gave_back: PauseReason = PauseReason.SKIPS) -> bool:
    """Pause a volunteer who went through more cards in the last hour than calls can take,
    or gave back too many. True if paused now."""
    row = await tx.one(CARDS_SEEN, **_since(volunteer_id, now))
    assert row is not None  # an aggregate always answers
    seen = _CARDS_SEEN(row)
    if seen.cards > rules.card_limit_per_hour:
        return await pause_volunteer(tx, volunteer_id, PauseReason.CARDS, seen.cards, now)
    if seen.given_back >= rules.skip_limit_per_hour:
        return await pause_volunteer(tx, volunteer_id, gave_back, seen.given_back, now)
    return False


# A "do not call" needs someone who answered: pressed sooner than this after the card came,
# it waits for an organizer. Dialling and a first sentence take longer.
DNC_MIN_SECONDS = 20
# Held presses an hour that pause the volunteer: one can be a slip, three are a pattern.
HELD_DNC_PAUSE = 3


@dataclass(frozen=True)
class Lease:
    lease_expires_at: datetime


LEASE_OF = SQL.of(
    "SELECT lease_expires_at FROM contact WHERE id = :contact_id AND held_by = :volunteer_id "
    f"AND lease_seq = :lease_seq AND status = {OPEN}")
_LEASE = reader(Lease)
RECORD_HOLD = SQL.of(
    "UPDATE contact SET held_by = NULL, lease_expires_at = NULL, "
    f"status = '{ContactStatus.HELD}' {BY_ITS_LEASE}")
_CLOSED = reader(ClosedContact)


INSERT_HOLD = SQL.of(
    "INSERT INTO dnc_hold (contact_id, volunteer_id, lease_seq, seconds_held, status, "
    f"created_at) VALUES (:contact_id, :volunteer_id, :lease_seq, :seconds_held, "
    f"'{DncHoldStatus.HELD}', :now) RETURNING id")


async def too_hasty(tx: Tx, rules: QueueRules, volunteer_id: int, contact_id: int,
                    lease_seq: int, now: datetime) -> int | None:
    """The seconds the card was held, if a "do not call" on it is to wait for an organizer:
    pressed before anyone could have answered, or beyond the hour's plausible share."""
    row = await tx.one(LEASE_OF, contact_id=contact_id, volunteer_id=volunteer_id,
                       lease_seq=lease_seq)
    if row is None:  # not held now (a late card, a second press): the usual path decides
        return None
    handed_out = _LEASE(row).lease_expires_at - timedelta(minutes=rules.lease_minutes)
    seconds = max(0, int((now - handed_out).total_seconds()))
    if seconds < DNC_MIN_SECONDS:
        return seconds
    applied = await _count_since(tx, DNC_LAST_HOUR, volunteer_id, now)
    return seconds if applied >= rules.dnc_at_once_per_hour else None


@dataclass(frozen=True)
class HeldPress:
    contact_first_name: str | None
    volunteer_paused: bool
    hold_id: int


async def hold(tx: Tx, rules: QueueRules, volunteer_id: int, contact_id: int, lease_seq: int,
               seconds: int, now: datetime) -> HeldPress | None:
    """Take the contact out of the queue until an organizer decides; the press counts as a
    card given back until then (it is not a call yet). Organizers are asked in the same
    transaction."""
    row = await tx.one(RECORD_HOLD, contact_id=contact_id, volunteer_id=volunteer_id,
                       lease_seq=lease_seq)
    if row is None:
        return None
    contact = _CLOSED(row)
    await insert_call(tx, contact_id=contact_id, campaign_id=contact.campaign_id,
                      volunteer_id=volunteer_id, lease_seq=lease_seq, outcome=Outcome.SKIPPED,
                      now=now)
    inserted = await tx.one(INSERT_HOLD, contact_id=contact_id, volunteer_id=volunteer_id,
                            lease_seq=lease_seq, seconds_held=seconds, now=now)
    assert inserted is not None
    (new_id,) = inserted
    hold_id = int(new_id)
    await queue_in(tx, await to_organizers(tx, f"dnc-held:{hold_id}", NoticeKind.DNC_HELD,
                                           {"hold": hold_id}), due_at=now)
    held = await _count_since(tx, HELD_LAST_HOUR, volunteer_id, now)
    paused = held >= HELD_DNC_PAUSE and await pause_volunteer(
        tx, volunteer_id, PauseReason.DNC, held, now)
    if not paused:
        paused = await pause_if_harvesting(tx, rules, volunteer_id, now)
    return HeldPress(contact.first_name, paused, hold_id)

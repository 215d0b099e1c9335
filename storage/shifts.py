"""Phoning shifts: organizers open them, volunteers join and leave, places are counted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo

from storage import clock
from storage.audit import write_audit_in
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import Shift, SignupStatus
from storage.outbox import REACHABLE_ORGANIZERS, Notice, NoticeKind, queue_in, to_organizers
from storage.rows import columns, reader

MAX_TEXT = 300


class ShiftError(ValueError):
    """"past", "order", "capacity", "text", "full", "cancelled", "missing": the rule a
    shift breaks."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ShiftView:
    shift: Shift
    taken: int

    @property
    def left(self) -> int:
        return max(0, self.shift.capacity - self.taken)


# Statuses in statements come from the enum, so a typo is a NameError at import.
JOINED, LEFT, ATTENDED, NO_SHOW = (f"'{s}'" for s in (
    SignupStatus.JOINED, SignupStatus.LEFT, SignupStatus.ATTENDED, SignupStatus.NO_SHOW))
HOLDING = f"({JOINED}, {ATTENDED})"  # the statuses that take a place
_SHIFT = reader(Shift)

_ADD = SQL.of(
    "INSERT INTO shift (room, address, starts_at, ends_at, capacity, note, cancelled, "
    "created_by, created_at) VALUES (:room, :address, :starts_at, :ends_at, :capacity, "
    f":note, FALSE, :created_by, :created_at) RETURNING {columns(Shift)}")


async def add_shift(db: Database, *, room: str, address: str, starts_at: datetime,
                    ends_at: datetime, capacity: int, note: str = "",
                    actor_id: int | None = None) -> Shift:
    now = clock.utcnow()
    if starts_at <= now:
        raise ShiftError("past")
    if ends_at <= starts_at or ends_at - starts_at > timedelta(hours=16):
        raise ShiftError("order")
    if not 1 <= capacity <= 1000:
        raise ShiftError("capacity")
    room, address, note = room.strip(), address.strip(), note.strip()
    if not room or any(len(t) > MAX_TEXT for t in (room, address, note)):
        raise ShiftError("text")
    async with db.fast_write() as tx:
        row = await tx.one(_ADD, room=room[:60], address=address, starts_at=starts_at,
                           ends_at=ends_at, capacity=capacity, note=note, created_by=actor_id,
                           created_at=now)
        assert row is not None  # RETURNING of an INSERT
        shift = _SHIFT(row)
        await write_audit_in(tx, actor_id, "shifts.add",
                             f"shift={shift.id} room={room} start={starts_at.isoformat()}", now)
    return shift


# A shift with the places taken: its columns, then the count.
_WITH_TAKEN = (f"SELECT {columns(Shift, 'sh')}, (SELECT count(*) FROM shift_signup s "
               f"WHERE s.shift_id = sh.id AND s.status IN {HOLDING}) FROM shift sh")
_COMING = SQL.of(f"{_WITH_TAKEN} WHERE sh.ends_at > :now AND NOT sh.cancelled "
                 "ORDER BY sh.starts_at LIMIT :limit")
_ONE = SQL.of(f"{_WITH_TAKEN} WHERE sh.id = :shift_id")


def _view(row: Sequence[Any]) -> ShiftView:
    *shift, taken = row
    return ShiftView(_SHIFT(shift), int(taken))


async def coming_shifts(db: Database, now: datetime | None = None,
                        limit: int = 10) -> list[ShiftView]:
    async with db.fast_read() as tx:
        rows = await tx.all(_COMING, now=now or clock.utcnow(), limit=limit)
    return [_view(row) for row in rows]


async def shift_view(db: Database, shift_id: int) -> ShiftView | None:
    async with db.fast_read() as tx:
        row = await tx.one(_ONE, shift_id=shift_id)
    return None if row is None else _view(row)


@dataclass(frozen=True)
class _Open:
    capacity: int
    ends_at: datetime
    cancelled: bool


# On PostgreSQL the shift row's lock makes concurrent joins count one after the other:
# FOR UPDATE, a join waiting for the other ({lock}'s SKIP LOCKED would find no shift).
_LOCK_SHIFT = SQL.of(f"SELECT {columns(_Open)} FROM shift WHERE id = :shift_id "
                     "{for_update}")
_OPEN = reader(_Open)
_MINE = SQL.of("SELECT status FROM shift_signup WHERE shift_id = :shift_id "
               "AND user_id = :user_id")
# Its own statement, after the lock: on PostgreSQL it then sees the joins committed while
# this one waited, which a count in the locking statement would not.
_TAKEN = SQL.of("SELECT count(*) FROM shift_signup WHERE shift_id = :shift_id "
                f"AND status IN {HOLDING}")
_SIGN_UP = SQL.of("INSERT INTO shift_signup (shift_id, user_id, status, joined_at) "
                  f"VALUES (:shift_id, :user_id, {JOINED}, :now)")
_REJOIN = SQL.of(f"UPDATE shift_signup SET status = {JOINED}, still_coming = NULL "
                 "WHERE shift_id = :shift_id AND user_id = :user_id")


class Joined(IntEnum):
    """What a join did; false when it changed nothing."""

    ALREADY = 0  # in already
    IN = 1
    LAST = 2  # took the last place: the shift is full now


async def join_shift(db: Database, shift_id: int, user_id: int) -> Joined:
    """Take a place. Joined.ALREADY if already in; ShiftError("full") when no place is
    left, "cancelled", "past" and "missing" for a shift cancelled, over or gone. Two
    last-place joins at once: one wins (the count is taken under the writer lock on SQLite,
    under a lock on the shift row on PostgreSQL). The last place taken queues, in the same
    transaction, a word to each organizer that the shift is full."""
    async with db.fast_write() as tx:
        row = await tx.one(_LOCK_SHIFT, shift_id=shift_id)
        if row is None:
            raise ShiftError("missing")
        shift = _OPEN(row)
        if shift.cancelled:
            raise ShiftError("cancelled")
        now = clock.utcnow()
        if shift.ends_at <= now:
            raise ShiftError("past")
        mine = await tx.one(_MINE, shift_id=shift_id, user_id=user_id)
        if mine is not None and mine[0] in (SignupStatus.JOINED, SignupStatus.ATTENDED):
            return Joined.ALREADY
        taken_row = await tx.one(_TAKEN, shift_id=shift_id)
        taken = int(taken_row[0]) if taken_row else 0
        if taken >= shift.capacity:
            raise ShiftError("full")
        if mine is None:
            await tx.run(_SIGN_UP, shift_id=shift_id, user_id=user_id, now=now)
        else:
            await tx.run(_REJOIN, shift_id=shift_id, user_id=user_id)
        if taken + 1 < shift.capacity:
            return Joined.IN
        # Once a shift: filled again after someone left, it says nothing new.
        await queue_in(tx, await to_organizers(tx, f"shift-full:{shift_id}", NoticeKind.SHIFT_FULL,
                                               {"shift": shift_id}, quiet_hours=True))
    return Joined.LAST


# Leaving only before the shift is over: a stale button pressed afterwards must not take
# someone off the roster, where they would escape being counted as a no-show. Saying one
# came only after. A cancelled shift takes neither.
_NOT_OVER = "shift_id IN (SELECT id FROM shift WHERE ends_at > :now AND NOT cancelled)"
_OVER = "shift_id IN (SELECT id FROM shift WHERE ends_at <= :now AND NOT cancelled)"
_MY_JOINED_PLACE = f"shift_id = :shift_id AND user_id = :user_id AND status = {JOINED}"
_LEAVE = SQL.of(f"UPDATE shift_signup SET status = {LEFT} "
                f"WHERE {_MY_JOINED_PLACE} AND {_NOT_OVER}")
_STILL_COMING = SQL.of(
    f"UPDATE shift_signup SET still_coming = :coming, status = CASE WHEN :coming THEN status "
    f"ELSE {LEFT} END WHERE {_MY_JOINED_PLACE} AND {_NOT_OVER}")
_OWN_ATTENDANCE = SQL.of(f"UPDATE shift_signup SET status = :status "
                         f"WHERE {_MY_JOINED_PLACE} AND {_OVER}")


async def leave_shift(db: Database, shift_id: int, user_id: int) -> bool:
    async with db.fast_write() as tx:
        return await tx.run(_LEAVE, shift_id=shift_id, user_id=user_id,
                            now=clock.utcnow()) == 1


async def answer_still_coming(db: Database, shift_id: int, user_id: int, coming: bool) -> bool:
    """The day-before question. "No" frees the place."""
    async with db.fast_write() as tx:
        return await tx.run(_STILL_COMING, coming=coming, shift_id=shift_id, user_id=user_id,
                            now=clock.utcnow()) == 1


def _came(came: bool) -> SignupStatus:
    return SignupStatus.ATTENDED if came else SignupStatus.NO_SHOW


async def confirm_own_attendance(db: Database, shift_id: int, user_id: int, came: bool) -> bool:
    """A volunteer's own word once the shift is over. An organizer's mark stands: only a
    place not marked yet takes it. Returns whether it was recorded."""
    async with db.fast_write() as tx:
        return await tx.run(_OWN_ATTENDANCE, status=_came(came).value, shift_id=shift_id,
                            user_id=user_id, now=clock.utcnow()) == 1


@dataclass(frozen=True)
class RosterLine:
    user_id: int
    first_name: str
    status: SignupStatus  # joined | attended | no_show
    no_shows_elsewhere: int  # in the campaign's other shifts: who to call the day before


# Everyone signed up, in the order they joined: one order, however many joined in the same
# instant, so that the roster's pages hold still.
_ROSTER = SQL.of(
    f"SELECT {columns(RosterLine)} FROM (SELECT s.user_id AS user_id, "
    "coalesce(u.first_name, '') AS first_name, s.status AS status, "
    "(SELECT count(*) FROM shift_signup o WHERE o.user_id = s.user_id "
    f"AND o.status = {NO_SHOW} AND o.shift_id <> s.shift_id) AS no_shows_elsewhere, "
    "s.joined_at AS joined_at FROM shift_signup s LEFT JOIN users u ON u.id = s.user_id "
    f"WHERE s.shift_id = :shift_id AND s.status <> {LEFT}) AS r ORDER BY joined_at, user_id")
_ROSTER_LINE = reader(RosterLine)


async def roster(db: Database, shift_id: int) -> list[RosterLine]:
    """Everyone signed up, in the order they joined."""
    async with db.fast_read() as tx:
        rows = await tx.all(_ROSTER, shift_id=shift_id)
    return [_ROSTER_LINE(row) for row in rows]


_MARK = SQL.of(
    "UPDATE shift_signup SET status = :status WHERE shift_id = :shift_id "
    f"AND user_id = :user_id AND status IN ({JOINED}, {ATTENDED}, {NO_SHOW}) "
    "AND status <> :status")


async def mark_attendance(db: Database, shift_id: int, user_id: int, came: bool,
                          actor_id: int | None) -> bool:
    """True if the mark changed something. Audited only then: a double tap, or a roster
    drawn before someone erased their data, must not write their id back into the log."""
    async with db.fast_write() as tx:
        changed = await tx.run(_MARK, status=_came(came).value, shift_id=shift_id,
                               user_id=user_id) == 1
        if changed:
            await write_audit_in(tx, actor_id, "shifts.attendance",
                                 f"shift={shift_id} user={user_id} came={came}", clock.utcnow())
    return changed


_SIGNED_UP = SQL.of(f"SELECT user_id FROM shift_signup WHERE shift_id = :shift_id "
                    f"AND status = {JOINED}")
_MY_SHIFTS = SQL.of(f"SELECT shift_id FROM shift_signup WHERE user_id = :user_id "
                    f"AND status = {JOINED}")


async def signed_up(db: Database, shift_id: int) -> list[int]:
    async with db.fast_read() as tx:
        return [int(uid) for (uid,) in await tx.all(_SIGNED_UP, shift_id=shift_id)]


async def my_shifts(db: Database, user_id: int) -> list[int]:
    """The shifts this person has a place in."""
    async with db.fast_read() as tx:
        return [int(sid) for (sid,) in await tx.all(_MY_SHIFTS, user_id=user_id)]


_CANCEL = SQL.of("UPDATE shift SET cancelled = TRUE WHERE id = :shift_id AND NOT cancelled "
                 "AND ends_at > :now")


async def cancel_shift(db: Database, shift_id: int, actor_id: int | None) -> list[int] | None:
    """Cancel a shift not over yet and queue a word to each person who had a place, in one
    transaction: a crash between the two would leave them coming to a closed room. Returns
    those people; None if it was cancelled already, is over, or does not exist (two
    organizers at once: one cancels)."""
    now = clock.utcnow()
    async with db.fast_write() as tx:
        if await tx.run(_CANCEL, shift_id=shift_id, now=now) != 1:
            return None
        people = [int(uid) for (uid,) in await tx.all(_SIGNED_UP, shift_id=shift_id)]
        # A shift is cancelled once, so these keys cannot be queued already.
        await queue_in(tx, [Notice(f"shift-cancelled:{shift_id}:{uid}",
                                   NoticeKind.SHIFT_CANCELLED, uid, {"shift": shift_id})
                            for uid in people])
        await write_audit_in(tx, actor_id, "shifts.cancel",
                             f"shift={shift_id} people={len(people)}", now)
    return people


@dataclass(frozen=True)
class _Place:
    shift_id: int
    user_id: int


_PLACE = reader(_Place)
_JOINED_STARTING = SQL.of(
    "SELECT s.id, g.user_id FROM shift s JOIN shift_signup g ON g.shift_id = s.id "
    "WHERE s.starts_at >= :start AND s.starts_at < :end AND NOT s.cancelled "
    f"AND g.status = {JOINED} ORDER BY s.starts_at, s.id, g.joined_at")
_ENDED_WITH_PEOPLE = SQL.of(
    "SELECT s.id FROM shift s WHERE s.ends_at >= :start AND s.ends_at < :end "
    "AND NOT s.cancelled AND EXISTS (SELECT 1 FROM shift_signup g WHERE g.shift_id = s.id "
    f"AND g.status <> {LEFT}) ORDER BY s.ends_at, s.id")
_JOINED_IN_ORDER = SQL.of("SELECT user_id FROM shift_signup WHERE shift_id = :shift_id "
                          f"AND status = {JOINED} ORDER BY joined_at")


async def _starting(tx: Tx, start: datetime, end: datetime) -> list[_Place]:
    """The places held in shifts starting in [start, end)."""
    return [_PLACE(row) for row in await tx.all(_JOINED_STARTING, start=start, end=end)]


async def plan_shift_reminders(db: Database, timezone: str, now: datetime | None = None) -> int:
    """Queue what is due about shifts, read and queued in one transaction: 30 minutes before
    a shift, the address; the day before (from 11:00, `timezone`'s time), "Still coming?";
    once it is over (within the day), its roster to each organizer to mark who came, and
    to each volunteer still down for it whether they made it (an organizer who called in it
    marks it on the roster instead). Keys per shift and person: planning twice queues
    nothing twice. Returns the rows considered."""
    now = now or clock.utcnow()
    local = now.astimezone(ZoneInfo(timezone))
    rows: list[Notice] = []
    async with db.fast_write() as tx:
        rows += [Notice(f"shift-soon:{p.shift_id}:{p.user_id}", NoticeKind.SHIFT_SOON,
                        p.user_id, {"shift": p.shift_id})
                 for p in await _starting(tx, now, now + timedelta(minutes=30))]
        if local.hour >= 11:
            start = datetime.combine(local.date() + timedelta(days=1), time.min,
                                     tzinfo=local.tzinfo).astimezone(UTC)
            rows += [Notice(f"shift-eve:{p.shift_id}:{p.user_id}",
                            NoticeKind.SHIFT_STILL_COMING, p.user_id, {"shift": p.shift_id})
                     for p in await _starting(tx, start, start + timedelta(days=1))]
        rows += await _after_shifts(tx, now)
        await queue_in(tx, rows)
    return len(rows)


async def _after_shifts(tx: Tx, now: datetime) -> list[Notice]:
    """For the shifts over within the day: the roster to each organizer, and "did you
    make it?" to each volunteer still down for it who is no organizer."""
    ended = [int(sid) for (sid,) in await tx.all(_ENDED_WITH_PEOPLE,
                                                 start=now - timedelta(days=1), end=now)]
    if not ended:
        return []
    organizer_ids = [int(oid) for (oid,) in await tx.all(REACHABLE_ORGANIZERS)]
    rows = [Notice(f"shift-attendance:{shift_id}:{oid}", NoticeKind.SHIFT_ATTENDANCE, oid,
                   {"shift": shift_id}) for shift_id in ended for oid in organizer_ids]
    for shift_id in ended:
        rows += [Notice(f"shift-came:{shift_id}:{uid}", NoticeKind.SHIFT_DID_YOU_COME,
                        int(uid), {"shift": shift_id}, quiet_hours=True)
                 for (uid,) in await tx.all(_JOINED_IN_ORDER, shift_id=shift_id)
                 if int(uid) not in organizer_ids]
    return rows


EXPORT_HEADER = ["shift", "room", "address", "starts_at", "ends_at", "capacity", "user_id",
                 "first_name", "status"]
_EXPORT = SQL.of(
    "SELECT sh.id, sh.room, sh.address, sh.starts_at, sh.ends_at, sh.capacity, "
    "s.user_id, coalesce(u.first_name, ''), s.status FROM shift sh "
    "LEFT JOIN shift_signup s ON s.shift_id = sh.id "
    "LEFT JOIN users u ON u.id = s.user_id ORDER BY sh.starts_at, sh.id, s.joined_at")


async def export_shifts(db: Database, actor_id: int | None = None) -> list[list[str]]:
    """Every shift with its roster, header first; audited. Each value as the database
    gives it (the CSV's cells)."""
    async with db.fast_write() as tx:
        await write_audit_in(tx, actor_id, "shifts.export", "", clock.utcnow())
    async with db.fast_read() as tx:
        rows = await tx.all(_EXPORT)
    return [list(EXPORT_HEADER)] + [["" if v is None else str(v) for v in row] for row in rows]

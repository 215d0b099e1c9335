"""Phoning shifts: organizers open them, volunteers join and leave, places are counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from storage import clock
from storage.audit import write_audit
from storage.database import Database
from storage.driver import SQL, read_time
from storage.models import Outbox, Shift, ShiftSignup
from storage.outbox import REACHABLE_ORGANIZERS, Notice, NoticeKind, queue_in, to_organizers

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
    async with db.write() as session:
        shift = Shift(room=room[:60], address=address, starts_at=starts_at, ends_at=ends_at,
                      capacity=capacity, note=note, created_by=actor_id)
        session.add(shift)
        await session.flush()
        await write_audit(session, actor_id, "shifts.add",
                          f"shift={shift.id} room={room} start={starts_at.isoformat()}")
        return shift


_TAKEN = SQL.of("SELECT count(*) FROM shift_signup WHERE shift_id = ? "
                "AND status IN ('joined', 'attended')")


async def coming_shifts(db: Database, now: datetime | None = None,
                        limit: int = 10) -> list[ShiftView]:
    now = now or clock.utcnow()
    async with db.read() as session:
        taken = (select(func.count()).where(ShiftSignup.shift_id == Shift.id,
                                            ShiftSignup.status.in_(["joined", "attended"]))
                 .correlate(Shift).scalar_subquery())
        rows = (await session.execute(
            select(Shift, taken).where(Shift.ends_at > now, Shift.cancelled.is_(False))
            .order_by(Shift.starts_at).limit(limit))).all()
    return [ShiftView(shift, int(n)) for shift, n in rows]


async def shift_view(db: Database, shift_id: int) -> ShiftView | None:
    async with db.read() as session:
        shift = await session.get(Shift, shift_id)
    if shift is None:
        return None
    async with db.fast_read() as tx:
        row = await tx.one(_TAKEN, shift_id)
    return ShiftView(shift, int(row[0]) if row else 0)


# On PostgreSQL the shift row's lock makes concurrent joins count one after the other.
_LOCK_SHIFT = SQL("SELECT capacity, ends_at, cancelled FROM shift WHERE id = ?",
                  "SELECT capacity, ends_at, cancelled FROM shift WHERE id = $1 FOR UPDATE")


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
        shift = await tx.one(_LOCK_SHIFT, shift_id)
        if shift is None:
            raise ShiftError("missing")
        if shift[2]:
            raise ShiftError("cancelled")
        if read_time(shift[1]) <= clock.utcnow():  # type: ignore[operator]
            raise ShiftError("past")
        mine = await tx.one(SQL.of("SELECT status FROM shift_signup WHERE shift_id = ? "
                                   "AND user_id = ?"), shift_id, user_id)
        if mine is not None and mine[0] in ("joined", "attended"):
            return Joined.ALREADY
        taken_row = await tx.one(_TAKEN, shift_id)
        taken, capacity = int(taken_row[0]) if taken_row else 0, int(shift[0])
        if taken >= capacity:
            raise ShiftError("full")
        now = clock.utcnow()
        if mine is None:
            await tx.run(SQL.of("INSERT INTO shift_signup (shift_id, user_id, status, joined_at) "
                                "VALUES (?, ?, 'joined', ?)"), shift_id, user_id, now)
        else:
            await tx.run(SQL.of("UPDATE shift_signup SET status = 'joined', still_coming = NULL "
                                "WHERE shift_id = ? AND user_id = ?"), shift_id, user_id)
        if taken + 1 < capacity:
            return Joined.IN
        # Once a shift: filled again after someone left, it says nothing new.
        await queue_in(tx, await to_organizers(tx, f"shift-full:{shift_id}", NoticeKind.SHIFT_FULL,
                                               {"shift": shift_id}, quiet_hours=True))
    return Joined.LAST




# Leaving only before the shift is over: a stale button pressed afterwards must not take
# someone off the roster, where they would escape being counted as a no-show. Saying one
# came only after. A cancelled shift takes neither.
_NOT_OVER = "shift_id IN (SELECT id FROM shift WHERE ends_at > ? AND NOT cancelled)"
_OVER = "shift_id IN (SELECT id FROM shift WHERE ends_at <= ? AND NOT cancelled)"


async def leave_shift(db: Database, shift_id: int, user_id: int) -> bool:
    async with db.fast_write() as tx:
        return await tx.run(SQL.of("UPDATE shift_signup SET status = 'left' WHERE shift_id = ? "
                                   f"AND user_id = ? AND status = 'joined' AND {_NOT_OVER}"),
                            shift_id, user_id, clock.utcnow()) == 1


async def answer_still_coming(db: Database, shift_id: int, user_id: int, coming: bool) -> bool:
    """The day-before question. "No" frees the place."""
    async with db.fast_write() as tx:
        return await tx.run(SQL.of(
            "UPDATE shift_signup SET still_coming = ?, status = CASE WHEN ? THEN status "
            "ELSE 'left' END WHERE shift_id = ? AND user_id = ? AND status = 'joined' "
            f"AND {_NOT_OVER}"),
            coming, coming, shift_id, user_id, clock.utcnow()) == 1


async def confirm_own_attendance(db: Database, shift_id: int, user_id: int, came: bool) -> bool:
    """A volunteer's own word once the shift is over. An organizer's mark stands: only a
    place not marked yet takes it. Returns whether it was recorded."""
    async with db.fast_write() as tx:
        return await tx.run(SQL.of(
            "UPDATE shift_signup SET status = ? WHERE shift_id = ? AND user_id = ? "
            f"AND status = 'joined' AND {_OVER}"),
            "attended" if came else "no_show", shift_id, user_id, clock.utcnow()) == 1


@dataclass(frozen=True)
class RosterLine:
    user_id: int
    first_name: str
    status: str  # joined | attended | no_show
    no_shows_elsewhere: int  # in the campaign's other shifts: who to call the day before


async def roster(db: Database, shift_id: int) -> list[RosterLine]:
    """Everyone signed up, in the order they joined: one order, however many joined in
    the same instant, so that the roster's pages hold still."""
    async with db.fast_read() as tx:
        rows = await tx.all(SQL.of(
            "SELECT s.user_id, coalesce(u.first_name, ''), s.status, "
            "(SELECT count(*) FROM shift_signup o WHERE o.user_id = s.user_id "
            "AND o.status = 'no_show' AND o.shift_id <> s.shift_id) FROM shift_signup s "
            "LEFT JOIN users u ON u.id = s.user_id WHERE s.shift_id = ? AND s.status <> 'left' "
            "ORDER BY s.joined_at, s.user_id"), shift_id)
    return [RosterLine(int(u), str(n), str(s), int(missed)) for u, n, s, missed in rows]


async def mark_attendance(db: Database, shift_id: int, user_id: int, came: bool,
                          actor_id: int | None) -> bool:
    """True if the mark changed something. Audited only then: a double tap, or a roster
    drawn before someone erased their data, must not write their id back into the log."""
    status = "attended" if came else "no_show"
    async with db.write() as session:
        changed = (await session.execute(update(ShiftSignup).where(
            ShiftSignup.shift_id == shift_id, ShiftSignup.user_id == user_id,
            ShiftSignup.status.in_(["joined", "attended", "no_show"]),
            ShiftSignup.status != status)
            .values(status=status))).rowcount == 1
        if changed:
            await write_audit(session, actor_id, "shifts.attendance",
                              f"shift={shift_id} user={user_id} came={came}")
        return changed


async def signed_up(db: Database, shift_id: int) -> list[int]:
    async with db.fast_read() as tx:
        return [int(r[0]) for r in await tx.all(SQL.of(
            "SELECT user_id FROM shift_signup WHERE shift_id = ? AND status = 'joined'"),
            shift_id)]


async def my_shifts(db: Database, user_id: int) -> list[int]:
    """The shifts this person has a place in."""
    async with db.fast_read() as tx:
        return [int(r[0]) for r in await tx.all(SQL.of(
            "SELECT shift_id FROM shift_signup WHERE user_id = ? AND status = 'joined'"),
            user_id)]


async def shifts_between(db: Database, start: datetime, end: datetime) -> list[Shift]:
    async with db.read() as session:
        return list((await session.execute(select(Shift).where(
            Shift.starts_at >= start, Shift.starts_at < end, Shift.cancelled.is_(False))
            .order_by(Shift.starts_at))).scalars())


async def cancel_shift(db: Database, shift_id: int, actor_id: int | None) -> list[int] | None:
    """Cancel a shift not over yet and queue a word to each person who had a place, in one
    transaction: a crash between the two would leave them coming to a closed room. Returns
    those people; None if it was cancelled already, is over, or does not exist (two
    organizers at once: one cancels)."""
    now = clock.utcnow()
    async with db.write() as session:
        cancelled = await session.execute(update(Shift).where(
            Shift.id == shift_id, Shift.cancelled.is_(False), Shift.ends_at > now)
            .values(cancelled=True))
        if cancelled.rowcount != 1:  # type: ignore[attr-defined]
            return None
        people = list((await session.execute(select(ShiftSignup.user_id).where(
            ShiftSignup.shift_id == shift_id, ShiftSignup.status == "joined"))).scalars())
        # A shift is cancelled once, so these keys cannot be queued already.
        session.add_all([Outbox(key=f"shift-cancelled:{shift_id}:{uid}",
                                kind=NoticeKind.SHIFT_CANCELLED.value,
                                chat_id=uid, params={"shift": shift_id}, quiet_hours=False,
                                due_at=now, created_at=now) for uid in people])
        await write_audit(session, actor_id, "shifts.cancel",
                          f"shift={shift_id} people={len(people)}")
    return [int(uid) for uid in people]


async def shifts_ended_between(db: Database, start: datetime, end: datetime) -> list[Shift]:
    """Shifts over in [start, end) that someone had joined: their attendance is to mark."""
    async with db.read() as session:
        return list((await session.execute(select(Shift).where(
            Shift.ends_at >= start, Shift.ends_at < end, Shift.cancelled.is_(False),
            Shift.id.in_(select(ShiftSignup.shift_id).where(  # type: ignore[union-attr]
                ShiftSignup.status != "left"))).order_by(Shift.ends_at))).scalars())


_JOINED_STARTING = SQL.of(
    "SELECT s.id, g.user_id FROM shift s JOIN shift_signup g ON g.shift_id = s.id "
    "WHERE s.starts_at >= ? AND s.starts_at < ? AND NOT s.cancelled AND g.status = 'joined' "
    "ORDER BY s.starts_at, s.id, g.joined_at")
_ENDED_WITH_PEOPLE = SQL.of(
    "SELECT s.id FROM shift s WHERE s.ends_at >= ? AND s.ends_at < ? AND NOT s.cancelled "
    "AND EXISTS (SELECT 1 FROM shift_signup g WHERE g.shift_id = s.id AND g.status <> 'left') "
    "ORDER BY s.ends_at, s.id")
_JOINED = SQL.of("SELECT user_id FROM shift_signup WHERE shift_id = ? AND status = 'joined' "
                 "ORDER BY joined_at")


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
        for shift_id, uid in await tx.all(_JOINED_STARTING, now, now + timedelta(minutes=30)):
            rows.append(Notice(f"shift-soon:{shift_id}:{uid}", NoticeKind.SHIFT_SOON, int(uid),
                         {"shift": int(shift_id)}, False))
        if local.hour >= 11:
            start = datetime.combine(local.date() + timedelta(days=1), time.min,
                                     tzinfo=local.tzinfo).astimezone(UTC)
            for shift_id, uid in await tx.all(_JOINED_STARTING, start,
                                              start + timedelta(days=1)):
                rows.append(Notice(f"shift-eve:{shift_id}:{uid}",
                                   NoticeKind.SHIFT_STILL_COMING, int(uid),
                                   {"shift": int(shift_id)}, False))
        ended = [int(r[0]) for r in await tx.all(_ENDED_WITH_PEOPLE, now - timedelta(days=1),
                                                 now)]
        if ended:
            organizer_ids = [int(r[0]) for r in await tx.all(REACHABLE_ORGANIZERS)]
            rows += [Notice(f"shift-attendance:{shift_id}:{oid}", NoticeKind.SHIFT_ATTENDANCE, oid,
                      {"shift": shift_id}, False) for shift_id in ended for oid in organizer_ids]
            for shift_id in ended:
                rows += [Notice(f"shift-came:{shift_id}:{uid}",
                                NoticeKind.SHIFT_DID_YOU_COME, int(uid),
                                {"shift": shift_id}, True)
                         for (uid,) in await tx.all(_JOINED, shift_id)
                         if int(uid) not in organizer_ids]
        await queue_in(tx, rows)
    return len(rows)


async def export_shifts(db: Database, actor_id: int | None = None) -> list[list[str]]:
    """Every shift with its roster, header first; audited."""
    async with db.write() as session:
        await write_audit(session, actor_id, "shifts.export")
    async with db.fast_read() as tx:
        rows = await tx.all(SQL.of(
            "SELECT sh.id, sh.room, sh.address, sh.starts_at, sh.ends_at, sh.capacity, "
            "s.user_id, coalesce(u.first_name, ''), s.status FROM shift sh "
            "LEFT JOIN shift_signup s ON s.shift_id = sh.id "
            "LEFT JOIN users u ON u.id = s.user_id ORDER BY sh.starts_at, sh.id, s.joined_at"))
    out = [["shift", "room", "address", "starts_at", "ends_at", "capacity", "user_id",
            "first_name", "status"]]
    out += [["" if v is None else str(v) for v in row] for row in rows]
    return out


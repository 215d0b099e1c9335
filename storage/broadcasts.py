"""Broadcasts: an organizer's message to an audience, now or at a set time.

A broadcast is a row until it is due; then its audience becomes one outbox row per person
(key `broadcast:<id>:<person>`, batch `broadcast:<id>`), which the deliverer sends paced and
at most once. Cancelling stops the rows not yet sent: those pending or claimed are skipped
at once, and the deliverer's last check before each send (outbox.mark_sending) sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import clock
from storage.audit import write_audit
from storage.database import Database
from storage.driver import SQL, Tx, read_time
from storage.models import Broadcast
from storage.outbox import Notice, NoticeKind, queue_in

AUDIENCES = ("everyone", "volunteers", "room", "shift", "under3")
MAX_TEXT = 4096  # Telegram's limit for a message's text


class BroadcastError(ValueError):
    """"long", "empty", "past", "audience", "nobody", "shift_past": what is wrong."""

    def __init__(self, reason: str, detail: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


_REACHABLE = "u.id > 0 AND NOT u.blocked AND NOT u.stopped AND NOT u.forgotten"
_AUDIENCE_SQL = {
    "everyone": SQL.of(f"SELECT u.id FROM users u WHERE {_REACHABLE}"),
    "volunteers": SQL.of(f"SELECT u.id FROM users u WHERE {_REACHABLE} "
                         "AND u.volunteer_status = 'approved'"),
    "room": SQL.of(f"SELECT DISTINCT u.id FROM users u JOIN shift_signup s ON s.user_id = u.id "
                   f"JOIN shift sh ON sh.id = s.shift_id WHERE {_REACHABLE} "
                   "AND s.status <> 'left' AND sh.room = ?"),
    "shift": SQL.of(f"SELECT u.id FROM users u JOIN shift_signup s ON s.user_id = u.id "
                    f"WHERE {_REACHABLE} AND s.status = 'joined' "
                    "AND s.shift_id = CAST(? AS INTEGER)"),
    "under3": SQL.of(f"SELECT u.id FROM users u WHERE {_REACHABLE} AND u.recruits < 3"),
}
_TAKES_VALUE = frozenset({"room", "shift"})


async def audience(db: Database, kind: str, value: str | None = None) -> list[int]:
    """Who a broadcast reaches: never the unreachable, /stop-ped or erased."""
    async with db.fast_read() as tx:
        return await _audience(tx, kind, value)


async def _audience(tx: Tx, kind: str, value: str | None) -> list[int]:
    if kind not in AUDIENCES or (kind in _TAKES_VALUE and not value):
        raise BroadcastError("audience")
    # A shift by its id (PostgreSQL's driver takes an integer for it), a room by its name.
    args = (int(value),) if kind == "shift" else (value,) if kind in _TAKES_VALUE else ()
    return [int(r[0]) for r in await tx.all(_AUDIENCE_SQL[kind], *args)]


def footer_length(footer: str) -> int:
    return len(footer) + 2


async def create_broadcast(db: Database, *, text: str, visible_length: int, footer: str,
                           audience_kind: str, audience_value: str | None, shift_id: int | None,
                           scheduled_at: datetime | None, actor_id: int | None,
                           progress_chat_id: int | None = None) -> Broadcast:
    """Checked whole before anything is saved: the text fits Telegram's limit with the
    footer every broadcast carries, the time is not past, the audience is not empty."""
    from storage.shifts import shift_view

    now = clock.utcnow()
    length = visible_length + footer_length(footer)
    if not text.strip():
        raise BroadcastError("empty")
    if length > MAX_TEXT:
        raise BroadcastError("long", length)
    if scheduled_at is not None and scheduled_at < now - timedelta(minutes=1):
        raise BroadcastError("past")
    if shift_id is not None:
        view = await shift_view(db, shift_id)
        if view is None or view.shift.ends_at <= now:
            raise BroadcastError("shift_past")
    people = await audience(db, audience_kind, audience_value)
    if not people:
        raise BroadcastError("nobody")
    async with db.write() as session:
        broadcast = Broadcast(text=text, audience=audience_kind, audience_value=audience_value,
                              shift_id=shift_id, scheduled_at=scheduled_at or now,
                              created_by=actor_id, progress_chat_id=progress_chat_id,
                              total=len(people))
        session.add(broadcast)
        await session.flush()
        await write_audit(session, actor_id, "broadcasts.create",
                          f"broadcast={broadcast.id} audience={audience_kind}"
                          f"{'=' + audience_value if audience_value else ''} "
                          f"people={len(people)} at={broadcast.scheduled_at.isoformat()}")
        return broadcast


_DUE = SQL.of("SELECT id, audience, audience_value FROM broadcast WHERE status = 'scheduled' "
              "AND scheduled_at <= ? ORDER BY scheduled_at, id")
_START = SQL.of("UPDATE broadcast SET status = 'sending' WHERE id = ? AND status = 'scheduled'")
_TOTAL = SQL.of("UPDATE broadcast SET total = ? WHERE id = ?")


async def start_due(db: Database, now: datetime | None = None) -> list[int]:
    """Broadcasts whose time has come: their audience (as it is now) becomes outbox rows.
    A broadcast is started once, whatever the number of instances ticking.

    Its status, its rows and its total change in one transaction: whoever looks (the
    progress tick of this process or another) sees it scheduled without rows, or sending
    with all of them, never sending with rows missing, which would read as done."""
    now = now or clock.utcnow()
    async with db.fast_read() as tx:
        due = await tx.all(_DUE, now)
    started = []
    for broadcast_id, kind, value in due:
        # Long: the whole audience is written at once, off the event loop on SQLite.
        async with db.fast_write(long=True) as tx:
            # First, so that a second instance starting it waits here (PostgreSQL's row
            # lock) and then finds it started; a cancel that came first wins.
            if not await tx.run(_START, broadcast_id):
                continue
            people = await _audience(tx, str(kind), value)
            await queue_in(tx, [Notice(f"broadcast:{broadcast_id}:{uid}", NoticeKind.BROADCAST, uid,
                                 {"broadcast": int(broadcast_id)}, False) for uid in people],
                           due_at=now, batch=f"broadcast:{broadcast_id}")
            await tx.run(_TOTAL, len(people), broadcast_id)
        started.append(int(broadcast_id))
    return started


async def cancel_broadcast(db: Database, broadcast_id: int, actor_id: int | None) -> bool:
    """Stop what is not sent yet. Two organizers at once: one of them cancels it."""
    async with db.fast_write() as tx:
        if not await tx.run(SQL.of("UPDATE broadcast SET status = 'cancelled' WHERE id = ? "
                                   "AND status IN ('scheduled', 'sending')"), broadcast_id):
            return False
        # Claimed rows too: the deliverer's last check (outbox.mark_sending) then fails.
        await tx.run(SQL.of("UPDATE outbox SET status = 'skipped', error = 'cancelled' "
                            "WHERE batch = ? AND status IN ('pending', 'claimed')"),
                     f"broadcast:{broadcast_id}")
        await tx.run(SQL.of("INSERT INTO audit_log (actor_id, action, detail, created_at) "
                            "VALUES (?, 'broadcasts.cancel', ?, ?)"),
                     actor_id, f"broadcast={broadcast_id}", clock.utcnow())
    return True


@dataclass(frozen=True)
class Progress:
    broadcast_id: int
    status: str
    total: int
    sent: int
    unreachable: int  # blocked the bot, or failed for good
    skipped: int  # /stop-ped or cancelled meanwhile
    started_at: datetime | None
    progress_chat_id: int | None
    progress_message_id: int | None

    @property
    def done(self) -> int:
        return self.sent + self.unreachable + self.skipped


async def progress(db: Database, broadcast_id: int) -> Progress | None:
    async with db.fast_read() as tx:
        row = await tx.one(SQL.of(
            "SELECT status, total, scheduled_at, progress_chat_id, progress_message_id "
            "FROM broadcast WHERE id = ?"), broadcast_id)
        if row is None:
            return None
        counts = {str(s): int(n) for s, n in await tx.all(SQL.of(
            "SELECT status, count(*) FROM outbox WHERE batch = ? GROUP BY status"),
            f"broadcast:{broadcast_id}")}
    return Progress(broadcast_id, str(row[0]), int(row[1]), counts.get("sent", 0),
                    counts.get("failed", 0), counts.get("skipped", 0), read_time(row[2]),
                    row[3], row[4])


async def sending(db: Database) -> list[int]:
    async with db.fast_read() as tx:
        return [int(r[0]) for r in await tx.all(SQL.of(
            "SELECT id FROM broadcast WHERE status = 'sending' ORDER BY id"))]


_FINAL = ("done", "cancelled")
_TO_SHOW = SQL.of(
    "SELECT id FROM broadcast WHERE progress_message_id IS NOT NULL AND (status = 'sending' "
    "OR (status IN ('done', 'cancelled') AND (progress_shown IS NULL "
    "OR progress_shown <> status))) ORDER BY id")


async def progress_to_show(db: Database) -> list[int]:
    """Broadcasts whose progress message is to move: those sending, and those over whose
    message does not show it for sure yet (its last edit refused, or cut short)."""
    async with db.fast_read() as tx:
        return [int(r[0]) for r in await tx.all(_TO_SHOW)]


async def progress_shown(db: Database, broadcast_id: int, status: str) -> None:
    """The progress message shows this state; a final one is not edited again."""
    if status not in _FINAL:
        return
    async with db.fast_write() as tx:
        await tx.run(SQL.of("UPDATE broadcast SET progress_shown = ? WHERE id = ? "
                            "AND status = ?"), status, broadcast_id, status)


# Done only with every row there (as many as the total) and none of them still to go: a
# broadcast seen between a start's steps, or its rows lost, would otherwise read as done
# and could no longer be cancelled while its rows went out.
_FINISH = SQL.of(
    "UPDATE broadcast SET status = 'done' WHERE id = ? AND status = 'sending' "
    "AND (SELECT count(*) FROM outbox WHERE batch = ?) >= total "
    "AND NOT EXISTS (SELECT 1 FROM outbox WHERE batch = ? "
    "AND status IN ('pending', 'claimed', 'sending'))")


async def finish_if_done(db: Database, broadcast_id: int) -> bool:
    batch = f"broadcast:{broadcast_id}"
    async with db.fast_write() as tx:
        return await tx.run(_FINISH, broadcast_id, batch, batch) == 1


async def set_progress_message(db: Database, broadcast_id: int, chat_id: int,
                               message_id: int) -> None:
    async with db.fast_write() as tx:
        await tx.run(SQL.of("UPDATE broadcast SET progress_chat_id = ?, progress_message_id = ? "
                            "WHERE id = ?"), chat_id, message_id, broadcast_id)


@dataclass(frozen=True)
class ToSend:
    status: str
    text: str
    shift_id: int | None


_TO_SEND = SQL.of("SELECT status, text, shift_id FROM broadcast WHERE id = ?")


async def broadcast_to_send(db: Database, broadcast_id: int) -> ToSend | None:
    """What the deliverer sends (read at most once a second, through the driver)."""
    async with db.fast_read() as tx:
        row = await tx.one(_TO_SEND, broadcast_id)
    return ToSend(str(row[0]), str(row[1]), row[2]) if row else None

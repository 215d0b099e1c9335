"""Broadcasts: an organizer's message to an audience, now or at a set time.

A broadcast is a row until it is due; then its audience becomes one outbox row per person
(key `broadcast:<id>:<person>`, batch `broadcast:<id>`), which the deliverer sends paced and
at most once. Cancelling stops the rows not yet sent: those pending or claimed are skipped
at once, and the deliverer's last check before each send (outbox.mark_sending) sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage import clock
from storage.audit import write_audit_in
from storage.campaigns import active_campaign
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import (
    Audience,
    Broadcast,
    BroadcastStatus,
    OutboxStatus,
    SignupStatus,
    VolunteerStatus,
)
from storage.outbox import Notice, NoticeKind, queue_in
from storage.rows import columns, reader
from storage.shifts import shift_view
from storage.silence import silence_at

MAX_TEXT = 4096  # Telegram's limit for a message's text


class BroadcastError(ValueError):
    """"long", "empty", "past", "audience", "nobody", "shift_past": what is wrong."""

    def __init__(self, reason: str, detail: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# Statuses in statements come from the enums, so a typo is a NameError at import.
SCHEDULED, SENDING, DONE, CANCELLED = (f"'{s}'" for s in (
    BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING, BroadcastStatus.DONE,
    BroadcastStatus.CANCELLED))
_STILL_TO_GO = ", ".join(f"'{s}'" for s in (OutboxStatus.PENDING, OutboxStatus.CLAIMED,
                                             OutboxStatus.SENDING))
_REACHABLE = "u.id > 0 AND NOT u.blocked AND NOT u.stopped AND NOT u.forgotten"
_AUDIENCE_SQL = {
    Audience.EVERYONE: SQL.of(f"SELECT u.id FROM users u WHERE {_REACHABLE}"),
    Audience.VOLUNTEERS: SQL.of(f"SELECT u.id FROM users u WHERE {_REACHABLE} "
                                f"AND u.volunteer_status = '{VolunteerStatus.APPROVED}'"),
    Audience.ROOM: SQL.of(
        "SELECT DISTINCT u.id FROM users u JOIN shift_signup s ON s.user_id = u.id "
        f"JOIN shift sh ON sh.id = s.shift_id WHERE {_REACHABLE} "
        f"AND s.status <> '{SignupStatus.LEFT}' "
        "AND sh.room = :room"),
    # A shift's people while it is on: a call scheduled before the shift was cancelled
    # goes to nobody once it is (they were told of the cancellation).
    Audience.SHIFT: SQL.of(
        f"SELECT u.id FROM users u JOIN shift_signup s ON s.user_id = u.id "
        f"JOIN shift sh ON sh.id = s.shift_id "
        f"WHERE {_REACHABLE} AND s.status = '{SignupStatus.JOINED}' AND NOT sh.cancelled "
        "AND s.shift_id = CAST(:shift_id AS INTEGER)"),
    Audience.UNDER3: SQL.of(f"SELECT u.id FROM users u WHERE {_REACHABLE} AND u.recruits < 3"),
}


def _audience_params(kind: str, value: str | None) -> tuple[SQL, dict[str, Any]]:
    """The statement for an audience and its values: a shift by its id (PostgreSQL's
    driver takes an integer for it), a room by its name."""
    try:
        chosen = Audience(kind)
    except ValueError:
        raise BroadcastError("audience") from None
    if chosen in (Audience.ROOM, Audience.SHIFT) and not value:
        raise BroadcastError("audience")
    params: dict[str, Any] = ({"room": value} if chosen is Audience.ROOM else
                              {"shift_id": int(value or 0)} if chosen is Audience.SHIFT else {})
    return _AUDIENCE_SQL[chosen], params


async def audience(db: Database, kind: str, value: str | None = None) -> list[int]:
    """Who a broadcast reaches: never the unreachable, /stop-ped or erased."""
    async with db.fast_read() as tx:
        return await _audience(tx, kind, value)


async def _audience(tx: Tx, kind: str, value: str | None) -> list[int]:
    statement, params = _audience_params(kind, value)
    return [int(uid) for (uid,) in await tx.all(statement, **params)]


def footer_length(footer: str) -> int:
    return len(footer) + 2


_CREATE = SQL.of(
    "INSERT INTO broadcast (text, audience, audience_value, shift_id, status, scheduled_at, "
    "total, created_by, created_at, progress_chat_id) VALUES (:text, :audience, "
    f":audience_value, :shift_id, {SCHEDULED}, :scheduled_at, :total, :created_by, "
    f":created_at, :progress_chat_id) RETURNING {columns(Broadcast)}")
_BROADCAST = reader(Broadcast)


async def create_broadcast(db: Database, *, text: str, visible_length: int, footer: str,
                           audience_kind: str, audience_value: str | None, shift_id: int | None,
                           scheduled_at: datetime | None, actor_id: int | None,
                           progress_chat_id: int | None = None) -> Broadcast:
    """Checked whole before anything is saved: the text fits Telegram's limit with the
    footer every broadcast carries, the time is not past, the audience is not empty."""
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
        # Over when the broadcast goes, not only now: a Join button would not be there.
        if view is None or view.shift.ends_at <= (scheduled_at or now):
            raise BroadcastError("shift_past")
    people = await audience(db, audience_kind, audience_value)
    if not people:
        raise BroadcastError("nobody")
    at = scheduled_at or now
    async with db.fast_write() as tx:
        row = await tx.one(_CREATE, text=text, audience=audience_kind,
                           audience_value=audience_value, shift_id=shift_id, scheduled_at=at,
                           total=len(people), created_by=actor_id, created_at=now,
                           progress_chat_id=progress_chat_id)
        assert row is not None  # RETURNING of an INSERT
        broadcast = _BROADCAST(row)
        await write_audit_in(tx, actor_id, "broadcasts.create",
                             f"broadcast={broadcast.id} audience={audience_kind}"
                             f"{'=' + audience_value if audience_value else ''} "
                             f"people={len(people)} at={at.isoformat()}", now)
    return broadcast


@dataclass(frozen=True)
class _Due:
    id: int
    audience: str
    audience_value: str | None


_DUE = SQL.of(f"SELECT {columns(_Due)} FROM broadcast WHERE status = {SCHEDULED} "
              "AND scheduled_at <= :now ORDER BY scheduled_at, id")
_DUE_ROW = reader(_Due)
_START = SQL.of(f"UPDATE broadcast SET status = {SENDING} WHERE id = :broadcast_id "
                f"AND status = {SCHEDULED}")
_TOTAL = SQL.of("UPDATE broadcast SET total = :total WHERE id = :broadcast_id")


async def start_due(db: Database, now: datetime | None = None) -> list[int]:
    """Broadcasts whose time has come: their audience (as it is now) becomes outbox rows.
    A broadcast is started once, whatever the number of instances ticking.

    Its status, its rows and its total change in one transaction: whoever looks (the
    progress tick of this process or another) sees it scheduled without rows, or sending
    with all of them, never sending with rows missing, which would read as done.

    During an electoral silence nothing starts: what is due waits for its end."""
    now = now or clock.utcnow()
    if silence_at(await active_campaign(db), now) is not None:
        return []
    async with db.fast_read() as tx:
        due = [_DUE_ROW(row) for row in await tx.all(_DUE, now=now)]
    started = []
    for broadcast in due:
        # Long: the whole audience is written at once, off the event loop on SQLite.
        async with db.fast_write(long=True) as tx:
            # First, so that a second instance starting it waits here (PostgreSQL's row
            # lock) and then finds it started; a cancel that came first wins.
            if not await tx.run(_START, broadcast_id=broadcast.id):
                continue
            people = await _audience(tx, broadcast.audience, broadcast.audience_value)
            await queue_in(tx, [Notice(f"broadcast:{broadcast.id}:{uid}", NoticeKind.BROADCAST,
                                       uid, {"broadcast": broadcast.id}) for uid in people],
                           due_at=now, batch=f"broadcast:{broadcast.id}")
            await tx.run(_TOTAL, total=len(people), broadcast_id=broadcast.id)
        started.append(broadcast.id)
    return started


_CANCEL = SQL.of(f"UPDATE broadcast SET status = {CANCELLED} WHERE id = :broadcast_id "
                 f"AND status IN ({SCHEDULED}, {SENDING})")
# Claimed rows too: the deliverer's last check (outbox.mark_sending) then fails.
_SKIP_UNSENT = SQL.of(f"UPDATE outbox SET status = '{OutboxStatus.SKIPPED}', "
                      "error = 'cancelled' WHERE batch = :batch "
                      f"AND status IN ('{OutboxStatus.PENDING}', '{OutboxStatus.CLAIMED}')")


async def cancel_broadcast(db: Database, broadcast_id: int, actor_id: int | None) -> bool:
    """Stop what is not sent yet. Two organizers at once: one of them cancels it."""
    async with db.fast_write() as tx:
        if not await tx.run(_CANCEL, broadcast_id=broadcast_id):
            return False
        await tx.run(_SKIP_UNSENT, batch=f"broadcast:{broadcast_id}")
        await write_audit_in(tx, actor_id, "broadcasts.cancel", f"broadcast={broadcast_id}",
                             clock.utcnow())
    return True


@dataclass(frozen=True)
class Progress:
    broadcast_id: int
    status: BroadcastStatus
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


@dataclass(frozen=True)
class _Shown:
    status: BroadcastStatus
    total: int
    scheduled_at: datetime
    progress_chat_id: int | None
    progress_message_id: int | None


_PROGRESS = SQL.of(f"SELECT {columns(_Shown)} FROM broadcast WHERE id = :broadcast_id")
_SHOWN = reader(_Shown)
_BATCH_COUNTS = SQL.of("SELECT status, count(*) FROM outbox WHERE batch = :batch "
                       "GROUP BY status")


async def progress(db: Database, broadcast_id: int) -> Progress | None:
    async with db.fast_read() as tx:
        row = await tx.one(_PROGRESS, broadcast_id=broadcast_id)
        if row is None:
            return None
        counts = {str(status): int(n) for status, n in await tx.all(
            _BATCH_COUNTS, batch=f"broadcast:{broadcast_id}")}
    shown = _SHOWN(row)
    return Progress(broadcast_id, shown.status, shown.total, counts.get(OutboxStatus.SENT, 0),
                    counts.get(OutboxStatus.FAILED, 0), counts.get(OutboxStatus.SKIPPED, 0),
                    shown.scheduled_at, shown.progress_chat_id, shown.progress_message_id)


_SENDING_NOW = SQL.of(f"SELECT id FROM broadcast WHERE status = {SENDING} ORDER BY id")


async def sending(db: Database) -> list[int]:
    async with db.fast_read() as tx:
        return [int(bid) for (bid,) in await tx.all(_SENDING_NOW)]


_FINAL = (BroadcastStatus.DONE, BroadcastStatus.CANCELLED)
_TO_SHOW = SQL.of(
    f"SELECT id FROM broadcast WHERE progress_message_id IS NOT NULL AND (status = {SENDING} "
    f"OR (status IN ({DONE}, {CANCELLED}) AND (progress_shown IS NULL "
    "OR progress_shown <> status))) ORDER BY id")


async def progress_to_show(db: Database) -> list[int]:
    """Broadcasts whose progress message is to move: those sending, and those over whose
    message does not show it for sure yet (its last edit refused, or cut short)."""
    async with db.fast_read() as tx:
        return [int(bid) for (bid,) in await tx.all(_TO_SHOW)]


_PROGRESS_SHOWN = SQL.of("UPDATE broadcast SET progress_shown = :status "
                         "WHERE id = :broadcast_id AND status = :status")


async def progress_shown(db: Database, broadcast_id: int, status: str) -> None:
    """The progress message shows this state; a final one is not edited again."""
    if status not in _FINAL:
        return
    async with db.fast_write() as tx:
        await tx.run(_PROGRESS_SHOWN, status=BroadcastStatus(status).value,
                     broadcast_id=broadcast_id)


# Done only with every row there (as many as the total) and none of them still to go: a
# broadcast seen between a start's steps, or its rows lost, would otherwise read as done
# and could no longer be cancelled while its rows went out.
_FINISH = SQL.of(
    f"UPDATE broadcast SET status = {DONE} WHERE id = :broadcast_id AND status = {SENDING} "
    "AND (SELECT count(*) FROM outbox WHERE batch = :batch) >= total "
    "AND NOT EXISTS (SELECT 1 FROM outbox WHERE batch = :batch "
    f"AND status IN ({_STILL_TO_GO}))")


async def finish_if_done(db: Database, broadcast_id: int) -> bool:
    async with db.fast_write() as tx:
        return await tx.run(_FINISH, broadcast_id=broadcast_id,
                            batch=f"broadcast:{broadcast_id}") == 1


_SET_PROGRESS_MESSAGE = SQL.of(
    "UPDATE broadcast SET progress_chat_id = :chat_id, progress_message_id = :message_id "
    "WHERE id = :broadcast_id")


async def set_progress_message(db: Database, broadcast_id: int, chat_id: int,
                               message_id: int) -> None:
    async with db.fast_write() as tx:
        await tx.run(_SET_PROGRESS_MESSAGE, chat_id=chat_id, message_id=message_id,
                     broadcast_id=broadcast_id)


@dataclass(frozen=True)
class ToSend:
    status: BroadcastStatus
    text: str
    shift_id: int | None


_TO_SEND = SQL.of(f"SELECT {columns(ToSend)} FROM broadcast WHERE id = :broadcast_id")
_TO_SEND_ROW = reader(ToSend)


async def broadcast_to_send(db: Database, broadcast_id: int) -> ToSend | None:
    """What the deliverer sends (read at most once a second, through the driver)."""
    async with db.fast_read() as tx:
        row = await tx.one(_TO_SEND, broadcast_id=broadcast_id)
    return None if row is None else _TO_SEND_ROW(row)

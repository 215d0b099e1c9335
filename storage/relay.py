"""Which volunteer asked the question an organizer is replying to."""

from __future__ import annotations

from storage import clock
from storage.database import Database
from storage.driver import SQL


async def record_relay(db: Database, volunteer_id: int, chat_id: int, message_id: int,
                       answer: str | None = None) -> int:
    async with db.fast_write() as tx:
        row = await tx.one(SQL.of(
            "INSERT INTO relay (volunteer_id, chat_id, message_id, answer, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id"), volunteer_id, chat_id, message_id, answer,
            clock.utcnow())
    return int(row[0]) if row else 0


async def delivered_answer(db: Database, relay_id: int) -> tuple[int, int, str] | None:
    """(volunteer chat, message id, answer) of an answer as the volunteer received it."""
    async with db.fast_read() as tx:
        row = await tx.one(SQL.of("SELECT chat_id, message_id, answer FROM relay "
                                  "WHERE id = ? AND answer IS NOT NULL"), relay_id)
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


async def relayed_to(db: Database, chat_id: int, message_id: int) -> int | None:
    async with db.fast_read() as tx:
        row = await tx.one(SQL.of("SELECT volunteer_id FROM relay WHERE chat_id = ? "
                                  "AND message_id = ? AND answer IS NULL"), chat_id, message_id)
    return int(row[0]) if row else None

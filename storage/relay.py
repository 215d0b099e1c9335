"""Which volunteer asked the question an organizer is replying to."""

from __future__ import annotations

from storage import clock
from storage.database import Database
from storage.driver import SQL


async def record_relay(db: Database, volunteer_id: int, chat_id: int, message_id: int) -> None:
    async with db.fast_write() as tx:
        await tx.run(SQL.of("INSERT INTO relay (volunteer_id, chat_id, message_id, created_at) "
                            "VALUES (?, ?, ?, ?)"), volunteer_id, chat_id, message_id,
                     clock.utcnow())


async def relayed_to(db: Database, chat_id: int, message_id: int) -> int | None:
    async with db.fast_read() as tx:
        row = await tx.one(SQL.of("SELECT volunteer_id FROM relay WHERE chat_id = ? "
                                  "AND message_id = ?"), chat_id, message_id)
    return int(row[0]) if row else None

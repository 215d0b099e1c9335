"""The audit log: who did what to the campaign's data, and when."""

from __future__ import annotations

from datetime import datetime

from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import AuditLog
from storage.rows import columns, reader

INSERT_AUDIT = SQL.of(
    "INSERT INTO audit_log (actor_id, action, detail, created_at) "
    "VALUES (:actor_id, :action, :detail, :created_at)")
LATEST_ENTRIES = SQL.of(
    f"SELECT {columns(AuditLog)} FROM audit_log ORDER BY id DESC LIMIT :limit")
_read_entry = reader(AuditLog)


async def write_audit_in(tx: Tx, actor_id: int | None, action: str, detail: str,
                         now: datetime) -> None:
    """Add an entry inside the caller's transaction, so it lands with what it records."""
    await tx.run(INSERT_AUDIT, actor_id=actor_id, action=action, detail=detail,
                 created_at=now)


async def audit_entries(db: Database, limit: int = 200) -> list[AuditLog]:
    """The latest entries, oldest first."""
    async with db.fast_read() as tx:
        rows = await tx.all(LATEST_ENTRIES, limit=limit)
    return [_read_entry(row) for row in reversed(rows)]


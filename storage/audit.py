"""The audit log: who did what to the campaign's data, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import AuditLog


async def write_audit(session: AsyncSession, actor_id: int | None, action: str,
                      detail: str = "", now: datetime | None = None) -> None:
    """Add an entry inside the caller's transaction, so it lands with what it records."""
    session.add(AuditLog(actor_id=actor_id, action=action, detail=detail,
                         created_at=now or clock.utcnow()))


async def audit_entries(db: Database, limit: int = 200) -> list[AuditLog]:
    async with db.read() as session:
        rows = (await session.execute(
            select(AuditLog).order_by(AuditLog.id.desc()).limit(limit))).scalars().all()
        return list(reversed(rows))


INSERT_AUDIT = SQL.of(
    "INSERT INTO audit_log (actor_id, action, detail, created_at) VALUES (?, ?, ?, ?)")


async def write_audit_in(tx: Tx, actor_id: int | None, action: str, detail: str,
                         now: datetime) -> None:
    """The same, for a transaction on the driver (storage.driver)."""
    await tx.run(INSERT_AUDIT, actor_id, action, detail, now)

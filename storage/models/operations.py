"""Running the bot: the audit log (who did what) and the lease of the instance serving."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from storage.models.defaults import utcnow


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    action: str = Field(max_length=64)
    detail: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class InstanceLease(SQLModel, table=True):
    """The `toile run` serving this database: one row, renewed every few seconds while it
    runs, deleted when it stops. Another start is refused while the lease holds, and takes
    it over once it lapses (a crash). Two instances would each send at SEND_RATE and
    ignore each other's 429s. No personal data: a machine and a process."""

    __tablename__ = "instance_lease"

    name: str = Field(primary_key=True, max_length=32)  # what is held: "bot"
    holder: str = Field(max_length=64)  # a random token of the holding process
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime
    renewed_at: datetime
    expires_at: datetime

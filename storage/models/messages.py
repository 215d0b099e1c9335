"""Messages: the outbox's rows, and the questions relayed to the organizers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from storage.models.defaults import utcnow
from storage.models.enums import OutboxStatus


class Outbox(SQLModel, table=True):
    """Durable delivery: one row per message nobody is waiting for in a conversation
    (nudges, reminders, broadcasts). Claimed by the deliverer, sent at most once."""

    __table_args__ = (
        Index("ix_outbox_due", "due_at", "id",
              sqlite_where=text(f"status = '{OutboxStatus.PENDING}'"),
              postgresql_where=text(f"status = '{OutboxStatus.PENDING}'")),
        Index("ix_outbox_claimed", "claimed_at",
              sqlite_where=text(f"status = '{OutboxStatus.CLAIMED}'"),
              postgresql_where=text(f"status = '{OutboxStatus.CLAIMED}'")),
        # Batches only: most rows are no batch's, and need no entry.
        Index("ix_outbox_batch", "batch", "status",
              sqlite_where=text("batch IS NOT NULL"), postgresql_where=text("batch IS NOT NULL")),
        # A reply to a relayed question: which one it answers (storage.relay).
        Index("ix_outbox_relay", "chat_id", "message_id",
              sqlite_where=text("kind = 'relay_question'"),
              postgresql_where=text("kind = 'relay_question'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)  # "nudge:<user>:<n>": planning twice adds nothing
    kind: str = Field(max_length=32)
    # Rows sent together ("broadcast:12"): counted for progress, cancelled together.
    batch: str | None = Field(default=None, max_length=32)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    quiet_hours: bool = True  # held back outside the campaign's messaging hours
    status: str = Field(default=OutboxStatus.PENDING, max_length=8)
    due_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Relay(SQLModel, table=True):
    """A volunteer's question to the organizers, or an organizer's answer to it (kept so
    that its author can sign it later). Both are delivered through the outbox, whose row
    keeps where each landed (storage.relay); `chat_id` and `message_id` are where rows
    written before that were sent directly."""

    __table_args__ = (Index("ix_relay_message", "chat_id", "message_id"),
                      Index("ix_relay_volunteer", "volunteer_id", "created_at"))

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    question: str | None = None  # the question as the volunteer wrote it (HTML)
    answer: str | None = None
    # The organizer who wrote the answer: the only one who may sign it.
    answered_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    signed: bool = False
    created_at: datetime = Field(default_factory=utcnow)

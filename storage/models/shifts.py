"""Shifts and their sign-ups, and broadcasts (which may carry a shift's Join button)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from storage.models.defaults import utcnow
from storage.models.enums import BroadcastStatus, SignupStatus


class Shift(SQLModel, table=True):
    """A phoning shift in a room (or remote), with its places."""

    __table_args__ = (Index("ix_shift_start", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    room: str = Field(max_length=60)  # "Saint-Denis", "Lyon", "Marseille", "remote"
    address: str = ""
    starts_at: datetime
    ends_at: datetime
    capacity: int
    note: str = ""
    cancelled: bool = False
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class ShiftSignup(SQLModel, table=True):
    __tablename__ = "shift_signup"
    __table_args__ = (Index("ix_signup_user", "user_id"),)

    shift_id: int = Field(primary_key=True, foreign_key="shift.id")
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: str = Field(default=SignupStatus.JOINED, max_length=10)
    still_coming: bool | None = None  # the answer to the day-before reminder
    joined_at: datetime = Field(default_factory=utcnow)


class Broadcast(SQLModel, table=True):
    """An organizer's message to an audience, now or at a set time; its rows go through the
    outbox under the batch "broadcast:<id>"."""

    __table_args__ = (Index("ix_broadcast_due", "status", "scheduled_at"),)

    id: int | None = Field(default=None, primary_key=True)
    text: str  # Telegram HTML, as the organizer wrote it
    audience: str = Field(max_length=16)  # an Audience
    audience_value: str | None = Field(default=None, max_length=60)  # the room, the shift id
    shift_id: int | None = Field(default=None, foreign_key="shift.id")  # a Join button
    status: str = Field(default=BroadcastStatus.SCHEDULED, max_length=10)
    scheduled_at: datetime
    total: int = 0
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    progress_chat_id: int | None = Field(default=None,
                                         sa_column=Column(BigInteger, nullable=True))
    progress_message_id: int | None = Field(default=None,
                                            sa_column=Column(BigInteger, nullable=True))
    # The final state (done, cancelled) once its progress message shows it: until then each
    # broadcast tick edits it again, so that a refused edit is only late.
    progress_shown: str | None = Field(default=None, max_length=10)

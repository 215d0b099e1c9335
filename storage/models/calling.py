"""The phone bank: contacts and their queue, calls, the do-not-call list and its holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.models.defaults import EPOCH, utcnow
from storage.models.enums import ContactStatus, DncHoldStatus

# Contacts whose constituency is not a target come after every target.
UNTARGETED_PRIORITY = 1_000_000
# The partial indexes' conditions: open contacts in the queue, and those waiting a retry.
QUEUED = f"status = '{ContactStatus.OPEN}' AND NOT waiting"
WAITING = f"waiting AND status = '{ContactStatus.OPEN}'"
# Queued contacts with a clock of their own (storage.phones.zone_for), counted by zone.
QUEUED_ELSEWHERE = f"zone <> '' AND {QUEUED}"


class Contact(SQLModel, table=True):
    __table_args__ = (
        # Also the do-not-call lookup: "campaign_id IN (all campaigns) AND phone = ?" walks it,
        # so no second index on phone slows down every import.
        UniqueConstraint("campaign_id", "phone", name="uq_contact_campaign_phone"),
        # The queue: an ordered walk over open contacts of one zone, no temp B-tree for
        # ORDER BY; the claim takes the first of each zone open now, then the first of those
        # (storage.calling.queue). Those waiting for their retry time are left out: otherwise
        # the walk stepped over every unanswered number of the day to reach the next fresh
        # one; so the zone comes before the order, or it stepped over every contact whose
        # local hours are closed and whose turn had come.
        Index(
            "ix_contact_queue",
            "campaign_id", "zone", "priority", "attempts", "id",
            sqlite_where=text(QUEUED), postgresql_where=text(QUEUED),
        ),
        # /stats counts those waiting for their local hours off it (a few per cent).
        Index("ix_contact_elsewhere", "campaign_id", "zone",
              sqlite_where=text(QUEUED_ELSEWHERE), postgresql_where=text(QUEUED_ELSEWHERE)),
        # Where waiting contacts are woken once due (storage.calling.WAKE_DUE) and counted;
        # one done or on the do-not-call list while it waited leaves it.
        Index("ix_contact_waiting", "campaign_id", "due_at",
              sqlite_where=text(WAITING), postgresql_where=text(WAITING)),
        Index("ix_contact_held_by", "held_by", sqlite_where=text("held_by IS NOT NULL"),
              postgresql_where=text("held_by IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    phone: str = Field(max_length=20)
    first_name: str | None = None
    last_name: str | None = None
    constituency: str | None = None
    commune: str | None = None
    postal_code: str | None = None
    # The contact's IANA time zone, or '' for the campaign's own: they are handed out only
    # while the campaign's calling hours are open there (storage.calling.hours).
    zone: str = Field(default="", max_length=40)
    polling_station: str | None = None
    tags: str | None = None
    source: str | None = None
    priority: int = UNTARGETED_PRIORITY
    status: str = Field(default=ContactStatus.OPEN, max_length=8)
    attempts: int = 0
    due_at: datetime = EPOCH
    # Set with a due_at in the future (no answer, call back later), cleared once it is due.
    waiting: bool = False
    held_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    lease_expires_at: datetime | None = None
    # Bumped on every hand-out: a card's buttons carry it, so a stale card can't record.
    lease_seq: int = 0
    last_outcome: str | None = None
    follow_up: str | None = None  # needs_proxy / can_carry_proxy / wants_volunteer
    last_called_at: datetime | None = None


class Call(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("contact_id", "lease_seq", name="uq_call_contact_lease"),
        # Caller and outcome included: the day's calls per caller are read off the index.
        Index("ix_call_campaign_time_caller", "campaign_id", "created_at", "volunteer_id",
              "outcome"),
        # Outcome included: the harvest guard counts a volunteer's last hour at each record
        # from the index alone (migration 0015).
        Index("ix_call_volunteer_time_outcome", "volunteer_id", "created_at", "outcome"),
        # /stats groups the day's calls by hour, room and outcome. SQLite has no hash
        # aggregate: without an index in that very order it sorts every call of the day
        # (0.5 s for 200,000). PostgreSQL hashes them quickly and stores times as
        # timestamps, where this expression would not even apply.
        Index("ix_call_campaign_hour", "campaign_id", text("substr(created_at, 1, 13)"),
              "room", "outcome").ddl_if(dialect="sqlite"),
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")
    campaign_id: int = Field(foreign_key="campaign.id")
    volunteer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    lease_seq: int
    outcome: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    # The room of the shift the volunteer was signed up to when calling; None: remote.
    # Written with the call, so that /stats does not search the shifts for every call.
    room: str | None = Field(default=None, max_length=60)


class DoNotCall(SQLModel, table=True):
    __tablename__ = "do_not_call"

    phone: str = Field(primary_key=True, max_length=20)
    added_at: datetime = Field(default_factory=utcnow)
    added_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class DncHold(SQLModel, table=True):
    """A "do not call again" pressed faster than a conversation takes: the contact waits out
    of the queue until an organizer confirms it (the number goes on the list) or rejects it
    (the contact goes back to the queue)."""

    __tablename__ = "dnc_hold"
    __table_args__ = (Index("ix_dnc_hold_volunteer", "volunteer_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    volunteer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    lease_seq: int
    seconds_held: int  # from the card's hand-out to the press
    status: str = Field(default=DncHoldStatus.HELD, max_length=9)
    created_at: datetime = Field(default_factory=utcnow)
    decided_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_at: datetime | None = None


class ContactLink(SQLModel, table=True):
    """A personal link a volunteer sends a contact after a call (`t.me/<bot>?start=<code>`):
    a random code, one per contact, used by one person, refused after the campaign's last
    round. Opened, it links the contact to the person on Telegram (used_by)."""

    __tablename__ = "contact_link"
    __table_args__ = (Index("ix_contact_link_volunteer", "volunteer_id", "used_at"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    contact_id: int = Field(foreign_key="contact.id", unique=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    # Who sent it: the person opening it counts as their recruit.
    volunteer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    used_at: datetime | None = None

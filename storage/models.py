"""The tables. Datetimes are aware UTC (SQLModel's UTCDateTime): SQLite stores them without
an offset, PostgreSQL as timestamptz, and both read back the same."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage import clock


def utcnow() -> datetime:
    """Looked up on each call, so that tests moving the storage clock move defaults too."""
    return clock.utcnow()


# An epoch far in the past: "due now" without a NULL, so the queue index stays usable.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class VolunteerStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    PAUSED = "paused"


class ContactStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    DO_NOT_CALL = "dnc"
    HELD = "held"  # a "do not call" pressed too fast, waiting for an organizer


class Outcome(StrEnum):
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    CALL_BACK = "call_back"
    WILL_VOTE = "will_vote"
    UNDECIDED = "undecided"
    NOT_INTERESTED = "not_interested"
    OTHER_SIDE = "other_side"
    NEEDS_PROXY = "needs_proxy"
    CAN_CARRY_PROXY = "can_carry_proxy"
    WANTS_TO_VOLUNTEER = "wants_volunteer"
    WRONG_NUMBER = "wrong_number"
    DO_NOT_CALL = "do_not_call"
    # Not calls: a volunteer gave the card back, or let its lease run out.
    SKIPPED = "skipped"
    ABANDONED = "abandoned"


RETRY_OUTCOMES = frozenset({Outcome.NO_ANSWER, Outcome.VOICEMAIL})
FOLLOW_UP_OUTCOMES = frozenset(
    {Outcome.NEEDS_PROXY, Outcome.CAN_CARRY_PROXY, Outcome.WANTS_TO_VOLUNTEER}
)
RELEASE_OUTCOMES = frozenset({Outcome.SKIPPED, Outcome.ABANDONED})
CALL_OUTCOMES = tuple(o for o in Outcome if o not in RELEASE_OUTCOMES)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # The nudge planner's walk: only people who still have nudges to get are in it.
        Index("ix_users_nudge", "nudges_sent", "created_at",
              sqlite_where=text("recruits < 3 AND nudges_sent < 3"),
              postgresql_where=text("recruits < 3 AND nudges_sent < 3")),
        Index("ix_users_invite_code", "invite_code", unique=True),
        Index("ix_users_rejoin_key", "rejoin_key", unique=True,
              sqlite_where=text("rejoin_key IS NOT NULL"),
              postgresql_where=text("rejoin_key IS NOT NULL")),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    # The role, and where it comes from: ORGANIZER_IDS (set or cleared at each start) or
    # `toile organizers add` (until `toile organizers remove`). It holds while either does.
    is_organizer: bool = False
    organizer_by_config: bool = False
    organizer_by_cli: bool = False
    volunteer_status: str = Field(default=VolunteerStatus.NONE, max_length=16)
    trained: bool = False
    blocked: bool = False  # the person blocked the bot (403): send nothing more
    stopped: bool = False  # /stop: no broadcasts
    created_at: datetime = Field(default_factory=utcnow)
    approved_at: datetime | None = None
    paused_at: datetime | None = None
    # The spider's web. The code is random (a deep-link payload, never an id); who brought
    # whom, the generation and the recruit count are kept at attribution so that /web
    # counts without walking the tree.
    invite_code: str | None = Field(default=None, max_length=64)
    referred_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True,
                                                                   index=True))
    generation: int = 0
    recruits: int = 0
    leaderboard_opt_out: bool = False
    nudges_sent: int = 0
    last_nudge_at: datetime | None = None
    # /forget: the node stays (the web keeps its shape), nothing of the person does.
    forgotten: bool = False
    # On a forgotten recruit's node only: HMAC(the bot's secret, "<telegram id>:<referrer>"),
    # so that the same person rejoining through the same link is not counted twice. Without
    # the secret it tells nothing of who it was (see storage/personal.py).
    rejoin_key: str | None = Field(default=None, max_length=64)


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    timezone: str = "Europe/Paris"
    calling_start: str = "09:00"
    calling_end: str = "21:00"
    script: str = ""
    talking_points: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    target_constituencies: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    retry_delay_minutes: int = 120
    max_attempts: int = 3
    lease_minutes: int = 15
    skip_limit_per_hour: int = 10
    # The harvest guard: more cards than this in an hour (calls take minutes) pauses.
    card_limit_per_hour: int = 40
    # Election rounds: [{"name": "Premier tour", "date": "2024-06-30"}, ...]
    rounds: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    # Days after joining when a supporter short of three recruits is nudged.
    nudge_days: list[int] = Field(default_factory=lambda: [1, 3, 7], sa_column=Column(JSON))
    # Messages nobody asked for (nudges, reminders) are sent only between these hours.
    messaging_start: str = "09:00"
    messaging_end: str = "21:00"
    # French proxies one holder may carry per round (the law: one established in France).
    proxy_capacity: int = 1
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


# Contacts whose constituency is not a target come after every target.
UNTARGETED_PRIORITY = 1_000_000


class Contact(SQLModel, table=True):
    __table_args__ = (
        # Also the do-not-call lookup: "campaign_id IN (all campaigns) AND phone = ?" walks it,
        # so no second index on phone slows down every import.
        UniqueConstraint("campaign_id", "phone", name="uq_contact_campaign_phone"),
        # The queue: an ordered walk over open contacts, no temp B-tree for ORDER BY. Those
        # waiting for their retry time are left out: otherwise the walk stepped over every
        # unanswered number of the day to reach the next fresh one.
        Index(
            "ix_contact_queue",
            "campaign_id", "priority", "attempts", "id",
            sqlite_where=text("status = 'open' AND NOT waiting"),
            postgresql_where=text("status = 'open' AND NOT waiting"),
        ),
        # Where waiting contacts are woken once due (storage.calling.WAKE_DUE) and counted;
        # one done or on the do-not-call list while it waited leaves it.
        Index("ix_contact_waiting", "campaign_id", "due_at",
              sqlite_where=text("waiting AND status = 'open'"),
              postgresql_where=text("waiting AND status = 'open'")),
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
        Index("ix_call_volunteer_time", "volunteer_id", "created_at"),
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
    status: str = Field(default="held", max_length=9)  # held | confirmed | rejected
    created_at: datetime = Field(default_factory=utcnow)
    decided_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_at: datetime | None = None


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    action: str = Field(max_length=64)
    detail: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Pledge(SQLModel, table=True):
    """Vote tripling: the three people (first names only) a supporter will remind to vote."""

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    names: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class PledgeRound(SQLModel, table=True):
    """A supporter said they reminded their three before this round."""

    __tablename__ = "pledge_round"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    round_date: str = Field(primary_key=True, max_length=10)
    confirmed_at: datetime = Field(default_factory=utcnow)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # a deliverer took it; no API call yet: safe to take back if stale
    SENDING = "sending"  # the API call may have gone out: never send it again
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # no longer wanted when its turn came (/stop, blocked, goal reached)


class Outbox(SQLModel, table=True):
    """Durable delivery: one row per message nobody is waiting for in a conversation
    (nudges, reminders, broadcasts). Claimed by the deliverer, sent at most once."""

    __table_args__ = (
        Index("ix_outbox_due", "due_at", "id",
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_outbox_claimed", "claimed_at",
              sqlite_where=text("status = 'claimed'"),
              postgresql_where=text("status = 'claimed'")),
        Index("ix_outbox_batch", "batch", "status"),
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


class PollingStation(SQLModel, table=True):
    """The official list of a commune's polling stations, where organizers imported it."""

    __tablename__ = "polling_station"

    insee: str = Field(primary_key=True, max_length=5)
    number: str = Field(primary_key=True, max_length=8)
    name: str = ""
    address: str = ""


class ProxyKind(StrEnum):
    NEED = "need"  # cannot vote: gives a proxy (mandant)
    OFFER = "offer"  # can carry someone's vote (mandataire)


class ProxyRequestStatus(StrEnum):
    OPEN = "open"  # waiting for a match (an offer: while it has room)
    MATCHED = "matched"  # a need with a live match
    REGISTERED = "registered"  # a need whose proxy is made official
    CANCELLED = "cancelled"


class ProxyRequest(SQLModel, table=True):
    """A need or an offer of a vote proxy, from Telegram or from the phone bank."""

    __tablename__ = "proxy_request"
    __table_args__ = (
        Index("ix_proxy_station", "kind", "status", "commune_insee", "station", "created_at"),
        Index("ix_proxy_department", "kind", "status", "department", "created_at"),
        Index("ix_proxy_constituency", "kind", "status", "constituency", "created_at"),
        Index("ix_proxy_user", "user_id"),
        Index("ix_proxy_campaign", "campaign_id", "kind", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=5)
    status: str = Field(default=ProxyRequestStatus.OPEN, max_length=10)
    # Its rounds are that campaign's (rounds_mask), and so is the day its match's voter
    # details are erased: a campaign loaded later changes neither.
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    # On Telegram: the person. From the phone bank: the contact, their first name and phone.
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    recorded_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    first_name: str = ""
    phone: str | None = Field(default=None, max_length=20)
    # Where the vote is cast: the giver's polling station; for a holder, where they can go.
    commune_insee: str = Field(max_length=5)
    department: str = Field(max_length=3)
    constituency: str | None = None
    station: str = Field(max_length=8)
    # A holder's own polling station (they vote there themselves).
    own_commune_insee: str | None = Field(default=None, max_length=5)
    own_station: str | None = Field(default=None, max_length=8)
    rounds_mask: int  # bit i: the campaign's round i
    created_at: datetime = Field(default_factory=utcnow)


class ProxyMatchStatus(StrEnum):
    PROPOSED = "proposed"  # waiting for both answers (24 h)
    ACCEPTED = "accepted"  # both said yes; waiting for the holder's voter details
    CONFIRMED = "confirmed"  # the giver has what they need to make it official
    REGISTERED = "registered"  # the giver says it is done
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


LIVE_MATCH = ("proposed", "accepted", "confirmed", "registered")


class ProxyMatch(SQLModel, table=True):
    __tablename__ = "proxy_match"
    __table_args__ = (
        # One live match per need; a pair is proposed once (a "no" is never asked again).
        Index("uq_match_live_need", "need_id", unique=True,
              sqlite_where=text(f"status IN {LIVE_MATCH}"),
              postgresql_where=text(f"status IN {LIVE_MATCH}")),
        UniqueConstraint("need_id", "offer_id", name="uq_match_pair"),
        Index("ix_match_offer", "offer_id"),
        Index("ix_match_status", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(foreign_key="proxy_request.id")
    offer_id: int = Field(foreign_key="proxy_request.id")
    rounds_mask: int
    status: str = Field(default=ProxyMatchStatus.PROPOSED, max_length=10)
    need_answer: bool | None = None
    offer_answer: bool | None = None
    proposed_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    decided_at: datetime | None = None
    registered_at: datetime | None = None
    # Collected only once both sides accepted (the number may come a step before the date,
    # kept here rather than in FSM data), passed only to the giver, erased the day after
    # the last round of the request's campaign.
    holder_voter_number: str | None = Field(default=None, max_length=9)
    holder_birth_date: date | None = None


class ProxySlot(SQLModel, table=True):
    """A holder's room per round: the primary key is what stops two needs taking the same
    holder for the same round, whatever the race."""

    __tablename__ = "proxy_slot"

    offer_id: int = Field(primary_key=True, foreign_key="proxy_request.id")
    round_date: str = Field(primary_key=True, max_length=10)
    slot: int = Field(primary_key=True)
    match_id: int = Field(foreign_key="proxy_match.id", index=True)


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
    status: str = Field(default="joined", max_length=10)  # joined | left | attended | no_show
    still_coming: bool | None = None  # the answer to the day-before reminder
    joined_at: datetime = Field(default_factory=utcnow)


class Broadcast(SQLModel, table=True):
    """An organizer's message to an audience, now or at a set time; its rows go through the
    outbox under the batch "broadcast:<id>"."""

    __table_args__ = (Index("ix_broadcast_due", "status", "scheduled_at"),)

    id: int | None = Field(default=None, primary_key=True)
    text: str  # Telegram HTML, as the organizer wrote it
    audience: str = Field(max_length=16)  # everyone | volunteers | room | shift | under3
    audience_value: str | None = Field(default=None, max_length=60)  # the room, the shift id
    shift_id: int | None = Field(default=None, foreign_key="shift.id")  # a Join button
    status: str = Field(default="scheduled", max_length=10)  # scheduled|sending|done|cancelled
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

"""The tables, one module per concern, all importable from here (`from storage.models import
Contact`): importing this package registers every table on SQLModel's metadata, which is
what Alembic and the migration tests compare against.

Datetimes are aware UTC (SQLModel's UTCDateTime): SQLite stores them without an offset,
PostgreSQL as timestamptz, and both read back the same."""

from storage.models.calling import (
    UNTARGETED_PRIORITY,
    Call,
    Contact,
    ContactLink,
    DncHold,
    DoNotCall,
)
from storage.models.campaign import Campaign, PollingStation, WallToken
from storage.models.defaults import EPOCH, utcnow
from storage.models.enums import (
    CALL_OUTCOMES,
    FOLLOW_UP_OUTCOMES,
    LIVE_MATCH,
    RELEASE_OUTCOMES,
    RETRY_OUTCOMES,
    Audience,
    BroadcastStatus,
    ContactStatus,
    DncHoldStatus,
    OutboxStatus,
    Outcome,
    ProxyKind,
    ProxyMatchStatus,
    ProxyRequestStatus,
    SignupStatus,
    VolunteerStatus,
)
from storage.models.messages import Outbox, Relay
from storage.models.operations import AuditLog, InstanceLease
from storage.models.people import Pledge, PledgeRound, User
from storage.models.proxies import ProxyAsk, ProxyMatch, ProxyRequest, ProxySlot
from storage.models.shifts import Broadcast, Shift, ShiftSignup

__all__ = [
    "CALL_OUTCOMES", "EPOCH", "FOLLOW_UP_OUTCOMES", "LIVE_MATCH", "RELEASE_OUTCOMES",
    "RETRY_OUTCOMES", "UNTARGETED_PRIORITY", "Audience", "AuditLog", "Broadcast",
    "BroadcastStatus", "Call", "Campaign", "Contact", "ContactLink", "ContactStatus", "DncHold",
    "DncHoldStatus", "DoNotCall", "InstanceLease", "Outbox", "OutboxStatus", "Outcome",
    "Pledge", "PledgeRound", "PollingStation", "ProxyAsk", "ProxyKind", "ProxyMatch",
    "ProxyMatchStatus", "ProxyRequest", "ProxyRequestStatus", "ProxySlot", "Relay", "Shift",
    "ShiftSignup", "SignupStatus", "User", "VolunteerStatus", "WallToken", "utcnow",
]

"""A call becomes a supporter: the personal link a volunteer sends a contact after a call,
and the contact opening it on Telegram.

The link is a random code (never an id), one per contact, taken by the first person who
opens it and refused after the campaign's last round. Opening it is one transaction: the
link taken, the contact out of the queue for good, the newcomer in the web as the caller's
recruit (the caller told), the proxy need or offer taken on the phone handed to them, and
the request to make calls they made on the phone put to the organizers.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import Campaign, ContactStatus, Outcome
from storage.proxies.matching import SERIALIZE
from storage.proxies.notices import Proposed, queue_accepted, queue_proposals, sides_of
from storage.proxies.rules import ACCEPTED, LIVE_REQUEST, PROPOSED
from storage.rows import columns, reader
from storage.users import ask_to_call_in
from storage.wall.tokens import closes_at
from storage.web.links import PAYLOAD, Attribution, attach_in, referrer_of

PREFIX = "c_"  # an invite code has none: /start tells the two apart without a lookup
CODE_BYTES = 12  # 96 random bits
NO_ROUNDS_DAYS = 60  # a campaign without rounds: the link lasts this long
_OPEN, _DONE, _JOINED = (f"'{s.value}'" for s in (
    ContactStatus.OPEN, ContactStatus.DONE, ContactStatus.JOINED))


def new_link_code() -> str:
    return PREFIX + secrets.token_urlsafe(CODE_BYTES)


def is_link_code(payload: str) -> bool:
    return payload.startswith(PREFIX) and PAYLOAD.fullmatch(payload) is not None


def link_expiry(campaign: Campaign, now: datetime) -> datetime:
    return closes_at(campaign) or now + timedelta(days=NO_ROUNDS_DAYS)


@dataclass(frozen=True)
class LinkToSend:
    code: str
    first_name: str | None
    phone: str | None  # only while the volunteer holds the card: it leaves with the outcome
    joined: bool  # opened already: nothing to send


@dataclass(frozen=True)
class _Called:
    phone: str
    first_name: str | None
    status: str
    holding: bool


_CALLED = reader(_Called)
# The volunteer's own card (held), or one they recorded a call for: nobody else's contact.
_CALLED_BY = SQL.of(
    f"SELECT {columns(_Called)} FROM (SELECT c.phone, c.first_name, c.status, "
    "(c.held_by = :volunteer_id AND c.lease_seq = :seq) AS holding FROM contact c "
    "WHERE c.id = :contact_id AND c.campaign_id = :campaign_id AND ("
    "(c.held_by = :volunteer_id AND c.lease_seq = :seq) OR EXISTS (SELECT 1 FROM call k "
    "WHERE k.contact_id = c.id AND k.lease_seq = :seq AND k.volunteer_id = :volunteer_id "
    f"AND k.outcome <> '{Outcome.ABANDONED}'))) AS called")
_INSERT_LINK = SQL.of(
    "INSERT INTO contact_link (code, contact_id, campaign_id, volunteer_id, created_at, "
    "expires_at) VALUES (:code, :contact_id, :campaign_id, :volunteer_id, :now, :expires_at) "
    "ON CONFLICT (contact_id) DO NOTHING")
# Sent again by someone who called them later: the join counts for the last caller.
_RESEND = SQL.of("UPDATE contact_link SET volunteer_id = :volunteer_id, expires_at = :expires_at "
                 "WHERE contact_id = :contact_id AND used_by IS NULL")
_LINK_OF = SQL.of("SELECT code, used_by FROM contact_link WHERE contact_id = :contact_id")


async def link_to_send(db: Database, campaign: Campaign, volunteer_id: int, contact_id: int,
                       seq: int) -> LinkToSend | None:
    """The contact's link for the volunteer who holds their card (seq) or recorded that
    call; made the first time. None: not theirs, never to be called, or the campaign over."""
    now = clock.utcnow()
    expires_at = link_expiry(campaign, now)
    if expires_at <= now:
        return None
    async with db.fast_write() as tx:
        row = await tx.one(_CALLED_BY, volunteer_id=volunteer_id, seq=seq,
                           contact_id=contact_id, campaign_id=campaign.id)
        if row is None:
            return None
        called = _CALLED(row)
        if called.status not in (ContactStatus.OPEN, ContactStatus.DONE, ContactStatus.JOINED):
            return None  # "do not call": they asked for nothing more
        await tx.run(_INSERT_LINK, code=new_link_code(), contact_id=contact_id,
                     campaign_id=campaign.id, volunteer_id=volunteer_id, now=now,
                     expires_at=expires_at)
        await tx.run(_RESEND, volunteer_id=volunteer_id, expires_at=expires_at,
                     contact_id=contact_id)
        code, used_by = await tx.one(_LINK_OF, contact_id=contact_id) or ("", None)
    return LinkToSend(str(code), called.first_name,
                      called.phone if called.holding else None, used_by is not None)


@dataclass(frozen=True)
class CallJoin:
    """Someone who opened the link sent after their call."""

    caller_id: int
    contact_first_name: str | None
    attribution: Attribution | None  # None: the caller erased their data since
    asked_to_call: bool  # said on the phone they would make calls: the request is made
    proxy_kind: str | None  # the need or offer taken on the phone, theirs now


@dataclass(frozen=True)
class _Taken:
    contact_id: int
    volunteer_id: int


_TAKEN = reader(_Taken)
# used_by IS NULL: one person only, even when two open the link at once.
_TAKE = SQL.of("UPDATE contact_link SET used_by = :user_id, used_at = :now WHERE code = :code "
               "AND used_by IS NULL AND expires_at > :now "
               f"RETURNING {columns(_Taken)}")
# Out of the queue for good, wherever it was (a call-back due, someone's card even).
_JOIN_CONTACT = SQL.of(
    f"UPDATE contact SET status = {_JOINED}, held_by = NULL, lease_expires_at = NULL, "
    f"waiting = FALSE WHERE id = :contact_id AND status IN ({_OPEN}, {_DONE}) "
    "RETURNING first_name, follow_up")
_CONTACT = SQL.of("SELECT first_name, follow_up FROM contact WHERE id = :contact_id")
# Their newest live need or offer (a person has one at most), the number it carried gone.
_TAKE_PROXY = SQL.of(
    "UPDATE proxy_request SET user_id = :user_id, phone = NULL WHERE id = (SELECT max(id) "
    f"FROM proxy_request WHERE contact_id = :contact_id AND user_id IS NULL AND status IN "
    f"({LIVE_REQUEST})) AND NOT EXISTS (SELECT 1 FROM proxy_request mine WHERE "
    f"mine.user_id = :user_id AND mine.status IN ({LIVE_REQUEST})) RETURNING id, kind")
_LIVE_MATCHES = SQL.of(
    "SELECT id, status FROM proxy_match WHERE (need_id = :request OR offer_id = :request) "
    f"AND status IN ({PROPOSED}, {ACCEPTED}) ORDER BY id")


async def join_through_call(db: Database, user_id: int, payload: str, *,
                            rejoin_secret: bytes | None = None) -> CallJoin | None:
    """/start <contact link> from someone who just arrived. None (the plain welcome): a
    malformed, unknown, expired or already used code."""
    if not is_link_code(payload):
        return None
    now = clock.utcnow()
    async with db.fast_write() as tx:
        # Behind the matching lock (first, as every holder of it takes it, before any row):
        # on PostgreSQL a matcher that had read their request as the phone bank's proposed
        # its match to nobody, and the hand-over below did not see that match yet.
        await tx.one(SERIALIZE)
        row = await tx.one(_TAKE, user_id=user_id, now=now, code=payload)
        if row is None:
            return None
        taken = _TAKEN(row)
        contact = (await tx.one(_JOIN_CONTACT, contact_id=taken.contact_id)
                   or await tx.one(_CONTACT, contact_id=taken.contact_id) or (None, None))
        first_name, follow_up = contact
        referrer = await referrer_of(tx, taken.volunteer_id)
        attribution = (await attach_in(tx, referrer, user_id, rejoin_secret)
                       if referrer is not None else None)
        proxy_kind = await _hand_proxy_over(tx, user_id, taken.contact_id)
        asked = follow_up == Outcome.WANTS_TO_VOLUNTEER and await ask_to_call_in(
            tx, user_id, caller_id=taken.volunteer_id)
    return CallJoin(taken.volunteer_id, first_name, attribution, asked, proxy_kind)


async def _hand_proxy_over(tx: Tx, user_id: int, contact_id: int) -> str | None:
    """The request taken on the phone is theirs: a proposal waiting for their answer, or a
    holder's details waiting, now comes to them rather than to the organizers' follow-up."""
    row = await tx.one(_TAKE_PROXY, user_id=user_id, contact_id=contact_id)
    if row is None:
        return None
    request_id, kind = row
    for match_id, status in await tx.all(_LIVE_MATCHES, request=request_id):
        sides = await sides_of(tx, int(match_id))
        if sides is None:
            continue
        if status == "proposed":
            await queue_proposals(tx, [Proposed(int(match_id), sides.need_user,
                                                sides.offer_user)])
        elif sides.offer_id == request_id:
            await queue_accepted(tx, int(match_id))
    return str(kind)


# ---- counts -----------------------------------------------------------------------------------

_MINE = SQL.of("SELECT count(*) FROM contact_link WHERE volunteer_id = :volunteer_id "
               "AND used_at IS NOT NULL")


async def my_calls_joined(db: Database, volunteer_id: int) -> int:
    async with db.fast_read() as tx:
        (count,) = await tx.one(_MINE, volunteer_id=volunteer_id) or (0,)
    return int(count)


# ---- callees who want to volunteer, not on Telegram ------------------------------------------

@dataclass(frozen=True)
class WouldVolunteer:
    contact_id: int
    first_name: str | None
    phone: str
    caller_name: str | None  # None: the caller erased their data
    called_at: datetime
    link_sent: bool


_WOULD = reader(WouldVolunteer)
_WOULD_VOLUNTEER = SQL.of(
    f"SELECT {columns(WouldVolunteer)} FROM (SELECT c.id AS contact_id, c.first_name, c.phone, "
    "u.first_name AS caller_name, k.created_at AS called_at, "
    "(l.id IS NOT NULL) AS link_sent FROM contact c "
    "JOIN call k ON k.contact_id = c.id AND k.outcome = :outcome "
    "LEFT JOIN users u ON u.id = k.volunteer_id AND NOT u.forgotten "
    "LEFT JOIN contact_link l ON l.contact_id = c.id "
    f"WHERE c.campaign_id = :campaign_id AND c.status = {_DONE} AND c.follow_up = :outcome) "
    "AS would ORDER BY called_at DESC, contact_id DESC LIMIT :limit")


async def would_volunteer(db: Database, campaign_id: int, limit: int = 30) -> list[WouldVolunteer]:
    """Contacts who said on the phone they would make calls and are not on Telegram, the
    latest first."""
    async with db.fast_read() as tx:
        return [_WOULD(row) for row in await tx.all(
            _WOULD_VOLUNTEER, outcome=Outcome.WANTS_TO_VOLUNTEER.value,
            campaign_id=campaign_id, limit=limit)]

"""Durable delivery: messages nobody waits for in a conversation, as rows.

A due row is `claimed` by a deliverer, marked `sending` just before its API call and `sent`
with the message id after. A row found in `sending` after a crash is never sent again: at
most once per person, which is what a campaign promises the people it writes to. A row left
`claimed` (its deliverer died before calling the API) is safe to hand out again, and is,
once its claim is older than a minute.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import OutboxStatus
from storage.rows import columns, reader

MAX_ATTEMPTS = 5


class NoticeKind(StrEnum):
    """Every kind of message the outbox carries; each has exactly one renderer, which the
    application checks at start-up (`check_renderers`)."""

    VOLUNTEER_REQUEST = "volunteer_request"
    VOLUNTEER_REQUEST_SENT = "volunteer_request_sent"
    VOLUNTEER_DECISION = "volunteer_decision"
    VOLUNTEER_PAUSED = "volunteer_paused"
    CALLING_PAUSED = "calling_paused"
    TRUSTED = "trusted"
    DNC_HELD = "dnc_held"
    NUDGE = "nudge"
    PLEDGE_REMINDER = "pledge_reminder"
    WEB_JOINED = "web_joined"
    PROXY_PROPOSAL = "proxy_proposal"
    PROXY_DECLINED = "proxy_declined"
    PROXY_CANCELLED = "proxy_cancelled"
    PROXY_DETAILS_REQUEST = "proxy_details_request"
    PROXY_ACCEPTED = "proxy_accepted"
    PROXY_WITHDRAWN = "proxy_withdrawn"
    PROXY_CONFIRMED = "proxy_confirmed"
    PROXY_CONFIRMED_HOLDER = "proxy_confirmed_holder"
    PROXY_REGISTERED = "proxy_registered"
    PROXY_REGISTER_REMINDER = "proxy_register_reminder"
    PROXY_EVE = "proxy_eve"
    PROXY_FOLLOWUP = "proxy_followup"
    PROXY_SUMMARY = "proxy_summary"
    PROXY_ASK = "proxy_ask"
    SHIFT_STILL_COMING = "shift_still_coming"
    SHIFT_SOON = "shift_soon"
    SHIFT_ATTENDANCE = "shift_attendance"
    SHIFT_DID_YOU_COME = "shift_did_you_come"
    SHIFT_CANCELLED = "shift_cancelled"
    SHIFT_FULL = "shift_full"
    BROADCAST = "broadcast"
    RELAY_QUESTION = "relay_question"
    RELAY_ANSWER = "relay_answer"
    RELAY_UNDELIVERED = "relay_undelivered"


# Messages /stop turns off: every campaign message (below), and the asks to carry a
# stranger's vote. The others (a proxy proposal, its answers and reminders) are part of
# something the person asked for.
UNSUBSCRIBABLE = frozenset({NoticeKind.NUDGE, NoticeKind.PLEDGE_REMINDER, NoticeKind.BROADCAST,
                            NoticeKind.WEB_JOINED, NoticeKind.PROXY_ASK})
# Campaign messages: none goes during an electoral silence (storage.silence); queued, they
# wait for its end. What two people agreed on (a proxy, a shift, a relayed answer) goes on.
CAMPAIGN_MESSAGES = frozenset({NoticeKind.NUDGE, NoticeKind.PLEDGE_REMINDER,
                               NoticeKind.BROADCAST, NoticeKind.WEB_JOINED,
                               NoticeKind.PROXY_ASK})
# Messages to a group chat (the organizers' group, ORGANIZER_CHAT_ID), not to a person: a
# group has a negative id and no users row, so nothing of a person's is checked for it.
TO_GROUPS = frozenset({NoticeKind.RELAY_QUESTION, NoticeKind.RELAY_UNDELIVERED})


@dataclass(frozen=True)
class Notice:
    """A message to queue: `key` is unique (queuing it twice queues it once), `params` holds
    ids, never names (the renderer reads them when it sends); a `quiet_hours` notice waits
    while messaging hours are closed."""

    key: str
    kind: NoticeKind
    chat_id: int
    params: Mapping[str, Any] = field(default_factory=dict)
    quiet_hours: bool = False


@dataclass(frozen=True)
class Delivery:
    id: int
    key: str
    kind: NoticeKind
    chat_id: int
    params: dict[str, Any]
    quiet_hours: bool
    attempts: int  # this one included


def check_renderers(kinds_by_feature: Mapping[str, Iterable[NoticeKind]]) -> None:
    """Every kind rendered by exactly one feature: a kind nobody renders, or two features
    rendering the same, fails at start-up, not at delivery."""
    owners: dict[NoticeKind, list[str]] = {}
    for feature, kinds in kinds_by_feature.items():
        for kind in kinds:
            owners.setdefault(NoticeKind(kind), []).append(feature)
    missing = sorted(kind.value for kind in NoticeKind if kind not in owners)
    doubled = sorted(f"{kind.value} ({', '.join(by)})" for kind, by in owners.items()
                     if len(by) > 1)
    problems = ([f"none for {', '.join(missing)}"] if missing else []) + (
        [f"two for {', '.join(doubled)}"] if doubled else [])
    if problems:
        raise ValueError("outbox renderers: " + "; ".join(problems))


# Statuses in statements come from the enum, so a typo is a NameError at import.
PENDING, CLAIMED, SENDING = (f"'{s}'" for s in (OutboxStatus.PENDING, OutboxStatus.CLAIMED,
                                                OutboxStatus.SENDING))
# Notices are queued in one statement over arrays, however many: row by row, a proxy pass's
# tens of thousands of proposals cost more than the pass's own writes.
_COLUMNS = "key, kind, chat_id, params, quiet_hours, status, due_at, attempts, created_at, batch"
# The rows are one JSON array of [key, kind, chat id, params, quiet hours], in either
# dialect: one statement's parameters, whichever database the transaction is on. The params
# are JSON within it, stored as their text: not encoded on their own first (once for each
# of a proxy pass's 70,000 proposals, that took half a second).
_ENQUEUE_TEXT = (
    f"INSERT INTO outbox ({_COLUMNS}) SELECT json_extract(value, '$[0]'), "
    "json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
    f"json_extract(value, '$[3]'), json_extract(value, '$[4]'), {PENDING}, :due_at, 0, "
    # `WHERE true`: SQLite's parser needs it before an upsert's ON CONFLICT.
    ":created_at, :batch FROM json_each(:rows) WHERE true {conflict}",
    f"INSERT INTO outbox ({_COLUMNS}) SELECT n ->> 0, n ->> 1, CAST(n ->> 2 AS BIGINT), "
    f"CAST(n ->> 3 AS JSON), CAST(n ->> 4 AS BOOLEAN), {PENDING}, :due_at, 0, :created_at, "
    ":batch FROM json_array_elements(CAST(:rows AS JSON)) AS n {conflict}")
_ENQUEUE = SQL.dialects(*(text.format(conflict="ON CONFLICT (key) DO NOTHING")
                          for text in _ENQUEUE_TEXT))
# Keys that cannot be queued already (each names a match made in the same transaction):
# the upsert's look-up of each key, a fifth of a proxy pass's 70,000 inserts on
# PostgreSQL, is skipped. A key there all the same fails the transaction, loudly.
_ENQUEUE_NEW = SQL.dialects(*(text.format(conflict="") for text in _ENQUEUE_TEXT))


async def _queue(tx: Tx, notices: Sequence[Notice], due: Any, created: Any,
                 batch: str | None, *, new_keys: bool = False) -> None:
    rows = [(n.key, n.kind, n.chat_id, n.params if type(n.params) is dict else dict(n.params),
             n.quiet_hours) for n in notices]
    await tx.run(_ENQUEUE_NEW if new_keys else _ENQUEUE, rows=json.dumps(rows), due_at=due,
                 created_at=created, batch=batch)


async def enqueue(db: Database, notices: Sequence[Notice], due_at: datetime | None = None,
                  batch: str | None = None) -> None:
    """Notices in a transaction of their own; a key already queued is left alone."""
    async with db.fast_write(long=len(notices) > 100) as tx:
        await queue_in(tx, notices, due_at=due_at, batch=batch)


async def queue_in(tx: Tx, notices: Sequence[Notice], *, due_at: datetime | None = None,
                   batch: str | None = None, new_keys: bool = False) -> None:
    """The same, inside a transaction the caller holds: the way a storage operation queues
    the messages its change implies, so that both commit or neither does. `new_keys`:
    each key names something this transaction made, so none can be queued already."""
    if not notices:
        return
    now = clock.utcnow()
    await _queue(tx, notices, tx.value(due_at or now), tx.value(now), batch,
                 new_keys=new_keys)


# The organizers a message can reach: every alert, follow-up and summary goes to them.
REACHABLE_ORGANIZERS = SQL.of(
    "SELECT id FROM users WHERE is_organizer AND NOT blocked ORDER BY id")


async def to_organizers(tx: Tx, key: str, kind: NoticeKind, params: Mapping[str, Any], *,
                        quiet_hours: bool = False) -> list[Notice]:
    """One notice for each organizer who can be reached, keyed `key:<organizer>`."""
    return [Notice(f"{key}:{oid}", kind, int(oid), params, quiet_hours)
            for (oid,) in await tx.all(REACHABLE_ORGANIZERS)]


def _kinds(kinds: frozenset[NoticeKind]) -> str:
    return ", ".join(f"'{kind.value}'" for kind in sorted(kinds))


# `quiet_hours` rows wait while messaging hours are closed, campaign messages while the
# electoral silence lasts; the others go at any time.
_CLAIM = SQL.of(
    f"UPDATE outbox SET status = {CLAIMED}, claimed_at = :now, attempts = attempts + 1 "
    f"WHERE id IN (SELECT id FROM outbox WHERE status = {PENDING} AND due_at <= :now "
    "AND (NOT quiet_hours OR :messaging_open) "
    f"AND (NOT :silent OR kind NOT IN ({_kinds(CAMPAIGN_MESSAGES)})) "
    "ORDER BY due_at, id LIMIT :limit {lock}) "
    f"RETURNING {columns(Delivery)}")
_DELIVERY = reader(Delivery)


async def claim_due(db: Database, limit: int, *, messaging_open: bool, silent: bool = False,
                    now: datetime | None = None) -> list[Delivery]:
    """Due rows to send; `silent`: an electoral silence is on, campaign messages wait."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        rows = await tx.all(_CLAIM, now=now, messaging_open=messaging_open, silent=silent,
                            limit=limit)
    deliveries = [_DELIVERY(row) for row in rows]
    deliveries.sort(key=lambda d: d.id)  # RETURNING gives no order
    return deliveries


# The recipient is read again in the very statement that lets the message go: a /stop, a
# block or an erasure that landed a moment ago is honoured, even mid-broadcast. A group is
# no person: only the kinds meant for one may go to a group's (negative) id, and never to
# the anonymous node of someone erased (negative too, but a users row).
_STILL_WANTED = (
    f"((outbox.chat_id < 0 AND outbox.kind IN ({_kinds(TO_GROUPS)}) "
    "AND NOT EXISTS (SELECT 1 FROM users g WHERE g.id = outbox.chat_id)) "
    "OR EXISTS (SELECT 1 FROM users u WHERE u.id = outbox.chat_id AND NOT u.blocked "
    "AND NOT u.forgotten AND (NOT u.stopped OR outbox.kind NOT IN ("
    f"{_kinds(UNSUBSCRIBABLE)}))))")
_SENDING = SQL.of(f"UPDATE outbox SET status = {SENDING} WHERE id = :id "
                  f"AND status = {CLAIMED} AND {_STILL_WANTED}")
_UNWANTED = SQL.of(f"UPDATE outbox SET status = '{OutboxStatus.SKIPPED}', error = 'unreachable "
                   f"or unsubscribed' WHERE id = :id AND status = {CLAIMED} "
                   f"AND NOT {_STILL_WANTED}")
_FINISH = SQL.of("UPDATE outbox SET status = :status, sent_at = :sent_at, "
                 "message_id = :message_id, error = :error "
                 f"WHERE id = :id AND status IN ({CLAIMED}, {SENDING})")
_RETRY = SQL.of(f"UPDATE outbox SET status = {PENDING}, due_at = :due_at, error = :error "
                f"WHERE id = :id AND status = {SENDING}")


async def mark_sending(db: Database, delivery: Delivery) -> bool:
    """Right before the API call. False if the message is not to be sent any more: its
    recipient has blocked the bot, was erased or (for what /stop covers) unsubscribed
    (the row is then skipped), it was cancelled (a broadcast), or its claim was taken back
    meanwhile (the deliverer stalled for over a minute: someone else's to send)."""
    async with db.fast_write() as tx:
        if await tx.run(_SENDING, id=delivery.id) == 1:
            return True
        await tx.run(_UNWANTED, id=delivery.id)
        return False


async def mark_sent(db: Database, delivery: Delivery, message_id: int | None) -> None:
    async with db.fast_write() as tx:
        await tx.run(_FINISH, status=OutboxStatus.SENT.value, sent_at=clock.utcnow(),
                     message_id=message_id, error=None, id=delivery.id)


async def mark_skipped(db: Database, delivery: Delivery, reason: str) -> None:
    async with db.fast_write() as tx:
        await tx.run(_FINISH, status=OutboxStatus.SKIPPED.value, sent_at=None,
                     message_id=None, error=reason, id=delivery.id)


# What a kind's failure implies, queued in the transaction that records it: an organizer
# told "sent" learns that their answer never arrived (storage.relay registers it).
FollowUp = Callable[[Tx, Delivery, str], Awaitable[None]]
_ON_FAILED: dict[NoticeKind, FollowUp] = {}


def on_failed(kind: NoticeKind, follow_up: FollowUp) -> None:
    _ON_FAILED[kind] = follow_up


async def mark_failed(db: Database, delivery: Delivery, error: str) -> None:
    follow_up = _ON_FAILED.get(delivery.kind)
    async with db.fast_write() as tx:
        failed = await tx.run(_FINISH, status=OutboxStatus.FAILED.value, sent_at=None,
                              message_id=None, error=error[:500], id=delivery.id)
        if failed and follow_up is not None:
            await follow_up(tx, delivery, error)


async def retry_later(db: Database, delivery: Delivery, error: str,
                      base_delay: float = 30.0) -> bool:
    """An error that did not send the message: try again after a growing delay, a bounded
    number of times. False when the attempts are used up (the row is then failed)."""
    if delivery.attempts >= MAX_ATTEMPTS:
        await mark_failed(db, delivery, error)
        return False
    due = clock.utcnow() + timedelta(seconds=base_delay * 2 ** (delivery.attempts - 1))
    async with db.fast_write() as tx:
        await tx.run(_RETRY, due_at=due, error=error[:500], id=delivery.id)
    return True


_PUT_BACK = SQL.of(f"UPDATE outbox SET status = {PENDING}, due_at = :due_at, "
                   f"attempts = attempts - 1 WHERE id = :id AND status = {CLAIMED}")
_RECOVER = SQL.of(f"UPDATE outbox SET status = {PENDING}, attempts = attempts - 1 "
                  f"WHERE status = {CLAIMED} AND claimed_at < :before")
STALE_CLAIM = timedelta(minutes=1)


async def put_back(db: Database, delivery: Delivery, due_at: datetime) -> None:
    """Claimed, but not to be sent now (messaging hours closed meanwhile): not an attempt."""
    async with db.fast_write() as tx:
        await tx.run(_PUT_BACK, due_at=due_at, id=delivery.id)


_CLOSE_INTERRUPTED = SQL.of(
    f"UPDATE outbox SET status = '{OutboxStatus.FAILED}', error = 'interrupted while sending: "
    f"may have arrived' WHERE status = {SENDING} AND claimed_at < :before")
# Far longer than any send takes, its retries after a 429 included.
INTERRUPTED_SEND = timedelta(minutes=15)


async def close_interrupted_sends(db: Database, now: datetime | None = None) -> int:
    """Rows a crash left `sending`: never sent again (they may have arrived), but closed,
    so that a broadcast they belong to can finish."""
    async with db.fast_write() as tx:
        return await tx.run(_CLOSE_INTERRUPTED,
                            before=(now or clock.utcnow()) - INTERRUPTED_SEND)


async def recover_stale_claims(db: Database, now: datetime | None = None) -> int:
    """Claims of a deliverer that died before calling the API: due again."""
    async with db.fast_write() as tx:
        return await tx.run(_RECOVER, before=(now or clock.utcnow()) - STALE_CLAIM)


_COUNTS = SQL.of("SELECT status, count(*) FROM outbox WHERE kind = :kind GROUP BY status")


async def counts(db: Database, kind: NoticeKind) -> dict[str, int]:
    async with db.fast_read() as tx:
        rows = await tx.all(_COUNTS, kind=NoticeKind(kind).value)
    return {str(status): int(n) for status, n in rows}

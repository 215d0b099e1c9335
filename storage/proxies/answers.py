"""A match moves on: each side's yes or no, the holder's voter details, the giver's
"registered". Each step queues, in its transaction, the messages it implies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import Campaign, ProxyMatchStatus
from storage.outbox import NoticeKind
from storage.proxies.matching import SERIALIZE, match_need_in
from storage.proxies.notices import (
    queue_accepted,
    queue_confirmed,
    queue_registered,
    queue_to_both,
)
from storage.proxies.rules import (
    ACCEPTED,
    CONFIRMED,
    DECLINED,
    MATCH_REGISTERED,
    MATCHED,
    OFFER,
    OPEN,
    REGISTERED,
    check_holder_details,
    check_voter_number,
)
from storage.rows import columns, reader

SIDES = ("need", "offer")


@dataclass(frozen=True)
class Change:
    changed: bool  # False: pressed twice, or too late; nothing was recorded
    status: str  # the match's status now ("missing", "unchanged": nothing to say)


@dataclass(frozen=True)
class _State:
    status: ProxyMatchStatus
    need_answer: bool | None
    offer_answer: bool | None
    need_id: int
    offer_id: int
    expires_at: datetime


_MATCH_STATE = SQL.of(f"SELECT {columns(_State)} FROM proxy_match WHERE id = :id")
_READ_STATE = reader(_State)
_DECLINE = {side: SQL.of(
    f"UPDATE proxy_match SET {side}_answer = :answer, "
    f"status = {DECLINED}, decided_at = :now WHERE id = :id")
    for side in SIDES}
_ACCEPT = {side: SQL.of(
    f"UPDATE proxy_match SET {side}_answer = :answer, status = :status, "
    "decided_at = :decided_at WHERE id = :id") for side in SIDES}
FREE_SLOTS = SQL.of("DELETE FROM proxy_slot WHERE match_id = :match_id")
# The holder has a place again: their offer is open (`rules.ROOM_LEFT`).
REOPEN_OFFER = SQL.of(f"UPDATE proxy_request SET status = {OPEN} WHERE kind = {OFFER} "
                      f"AND status = {MATCHED} AND id = (SELECT offer_id FROM proxy_match "
                      "WHERE id = :match_id)")


async def free_places(tx: Tx, match_id: int) -> None:
    """The match's places given back, its holder's offer open again."""
    await tx.run(FREE_SLOTS, match_id=match_id)
    await tx.run(REOPEN_OFFER, match_id=match_id)
REOPEN_NEED = SQL.of(f"UPDATE proxy_request SET status = {OPEN} "
                     f"WHERE id = :id AND status = {MATCHED}")


async def answer(db: Database, match_id: int, side: str, accept: bool,
                 now: datetime | None = None) -> Change:
    """One side's yes or no to a proposal. A no ends the match (the need goes back to the
    queue; this pair is never proposed again); two yeses make it accepted. What it implies
    is queued with it: after a no, word to both sides and the need's next proposals; after
    the second yes, the holder is asked for their voter details and the giver told."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        await tx.one(SERIALIZE)
        row = await tx.one(_MATCH_STATE, id=match_id)
        if row is None:
            return Change(False, "missing")
        state = _READ_STATE(row)
        mine, other = ((state.need_answer, state.offer_answer) if side == "need"
                       else (state.offer_answer, state.need_answer))
        if state.status != ProxyMatchStatus.PROPOSED or mine is not None or (
                state.expires_at <= now):
            return Change(False, state.status)
        if not accept:
            await tx.run(_DECLINE[side], answer=False, now=now, id=match_id)
            await free_places(tx, match_id)
            await tx.run(REOPEN_NEED, id=state.need_id)
            await queue_to_both(tx, match_id, "proxy-declined", NoticeKind.PROXY_DECLINED)
            await match_need_in(tx, state.need_id, now)
            return Change(True, ProxyMatchStatus.DECLINED)
        status = ProxyMatchStatus.ACCEPTED if other else ProxyMatchStatus.PROPOSED
        await tx.run(_ACCEPT[side], answer=True, status=status.value,
                     decided_at=now if status is ProxyMatchStatus.ACCEPTED else None,
                     id=match_id)
        if status is ProxyMatchStatus.ACCEPTED:
            await queue_accepted(tx, match_id)
        return Change(True, status)


_KEEP_NUMBER = SQL.of(f"UPDATE proxy_match SET holder_voter_number = :number "
                      f"WHERE id = :id AND status = {ACCEPTED}")
_KEPT_NUMBER = SQL.of("SELECT holder_voter_number FROM proxy_match WHERE id = :id")
_CONFIRM = SQL.of(
    "UPDATE proxy_match SET holder_voter_number = :number, holder_birth_date = :born, "
    f"status = {CONFIRMED} WHERE id = :id AND status = {ACCEPTED}")


async def keep_voter_number(db: Database, match_id: int, voter_number: str) -> Change:
    """The holder's number, given a step before their date of birth: kept on the match
    (never in a dialogue's data, which has no expiry), erased with the rest. False if the
    match is no longer waiting for it."""
    number = check_voter_number(voter_number)
    async with db.fast_write() as tx:
        changed = await tx.run(_KEEP_NUMBER, number=number, id=match_id)
    return Change(bool(changed), ProxyMatchStatus.ACCEPTED if changed else "unchanged")


async def give_holder_details(db: Database, campaign: Campaign, match_id: int,
                              voter_number: str | None, birth: str) -> Change:
    """After both said yes: what the giver needs to make the proxy official. A number of
    None is the one kept by `keep_voter_number`. The giver's instructions (or the
    organizers' follow-up for a giver off Telegram) and the holder's thanks are queued
    with it."""
    async with db.fast_write() as tx:
        if voter_number is None:
            kept = await tx.one(_KEPT_NUMBER, id=match_id)
            voter_number = str(kept[0]) if kept and kept[0] else ""
        number, born = check_holder_details(campaign, voter_number, birth)
        changed = await tx.run(
            _CONFIRM, number=number, id=match_id,
            born=born if tx.dialect == "postgres" else born.isoformat())
        if changed:
            await queue_confirmed(tx, match_id)
    return Change(bool(changed), ProxyMatchStatus.CONFIRMED if changed else "unchanged")


_REGISTER = SQL.of(
    f"UPDATE proxy_match SET status = {MATCH_REGISTERED}, registered_at = :now "
    f"WHERE id = :id AND status = {CONFIRMED} RETURNING need_id")
_NEED_REGISTERED = SQL.of(f"UPDATE proxy_request SET status = {REGISTERED} WHERE id = :id")


async def mark_registered(db: Database, match_id: int, now: datetime | None = None) -> Change:
    """The giver made it official (maprocuration.gouv.fr, or the paper form); the holder's
    thanks are queued with it."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        row = await tx.one(_REGISTER, now=now, id=match_id)
        if row is None:
            return Change(False, "unchanged")
        await tx.run(_NEED_REGISTERED, id=row[0])
        await queue_registered(tx, match_id)
    return Change(True, ProxyMatchStatus.REGISTERED)

"""Either side withdraws: their request closes, a live match ends, and the other side is
told and matched again in the same transaction, so nobody is left without word."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage import clock
from storage.database import Database
from storage.driver import SQL
from storage.proxies.answers import free_places
from storage.proxies.matching import SERIALIZE, match_need_in, match_offer_in
from storage.proxies.notices import queue_withdrawn
from storage.proxies.rules import (
    CANCELLED,
    LIVE_MATCH,
    LIVE_REQUEST,
    MATCH_CANCELLED,
    MATCHED,
    OPEN,
    REGISTERED,
)
from storage.rows import columns, reader


@dataclass(frozen=True)
class Cancellation:
    cancelled_match: int | None  # the live match that ended, if any (the first of them)
    other_need: int | None  # a need to match again (the last of them)
    matched_again: list[int] = field(default_factory=list)  # the new matches made at once


@dataclass(frozen=True)
class _Live:
    id: int
    need_id: int
    offer_id: int


_CANCEL_REQUEST = SQL.of(f"UPDATE proxy_request SET status = {CANCELLED} WHERE id = :id "
                         f"AND status IN ({LIVE_REQUEST})")
_LIVE_OF = SQL.of(f"SELECT {columns(_Live)} FROM proxy_match WHERE (need_id = :request_id "
                  f"OR offer_id = :request_id) AND status IN ({LIVE_MATCH}) ORDER BY id")
_READ_LIVE = reader(_Live)
_CANCEL_MATCH = SQL.of(
    f"UPDATE proxy_match SET status = {MATCH_CANCELLED}, holder_voter_number = NULL, "
    "holder_birth_date = NULL WHERE id = :id")
_REOPEN = SQL.of(f"UPDATE proxy_request SET status = {OPEN} WHERE id = :id "
                 f"AND status IN ({MATCHED}, {REGISTERED})")


async def cancel_request(db: Database, request_id: int,
                         now: datetime | None = None) -> Cancellation:
    """Either side withdraws. Their request is closed; a live match ends (the holder's
    details with it); the other side is told (through the organizers when off Telegram)
    and matched again at once: a need with another holder, a holder with another need."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        await tx.one(SERIALIZE)
        if not await tx.run(_CANCEL_REQUEST, id=request_id):
            return Cancellation(None, None)
        matches = [_READ_LIVE(row) for row in await tx.all(_LIVE_OF, request_id=request_id)]
        other_need, freed_offers, again = None, [], []
        for match in matches:
            await tx.run(_CANCEL_MATCH, id=match.id)
            await free_places(tx, match.id)
            await queue_withdrawn(tx, match.id, request_id)
            if match.need_id != request_id:
                await tx.run(_REOPEN, id=match.need_id)
                other_need = match.need_id
                new = await match_need_in(tx, other_need, now)
                again += [new] if new is not None else []
            else:
                freed_offers.append(match.offer_id)
        for offer_id in freed_offers:
            again += await match_offer_in(tx, offer_id, now)
    return Cancellation(matches[0].id if matches else None, other_need, again)

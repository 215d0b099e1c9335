"""The messages a change to a match implies, queued in its transaction. Keys are per match
(and side or person): a change made once queues its messages once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from storage.driver import SQL, Tx
from storage.outbox import REACHABLE_ORGANIZERS, Notice, NoticeKind, queue_in, to_organizers
from storage.rows import columns, reader


@dataclass(frozen=True)
class Sides:
    """A match's two requests and their people on Telegram (None: off Telegram)."""

    need_id: int
    offer_id: int
    need_user: int | None
    offer_user: int | None


class Proposed(NamedTuple):  # a pass makes tens of thousands: a tuple is the cheapest
    match_id: int
    need_user: int | None
    offer_user: int | None


_SIDES = SQL.of(
    f"SELECT {columns(Sides)} FROM (SELECT m.need_id, m.offer_id, n.user_id AS need_user, "
    "o.user_id AS offer_user FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
    "JOIN proxy_request o ON o.id = m.offer_id WHERE m.id = :id) AS sides")
_READ_SIDES = reader(Sides)


async def sides_of(tx: Tx, match_id: int) -> Sides | None:
    row = await tx.one(_SIDES, id=match_id)
    return None if row is None else _READ_SIDES(row)


def _to(key: str, kind: NoticeKind, user: int | None, match_id: int) -> list[Notice]:
    """The notice to a person on Telegram; none for a side off it."""
    return [] if user is None else [Notice(key, kind, int(user), {"match": match_id}, False)]


async def queue_proposals(tx: Tx, matches: Sequence[Proposed], *,
                          new_matches: bool = False) -> None:
    """Each side on Telegram gets the proposal; a side off Telegram is the organizers' to
    ask. `new_matches`: all made in this transaction, so no proposal of theirs is queued
    yet (`outbox.queue_in`'s new keys)."""
    rows: list[Notice] = []
    organizers: list[int] | None = None
    # Looked up once: a pass queues tens of thousands, and an enum member costs a lookup.
    proposal, followup = NoticeKind.PROXY_PROPOSAL, NoticeKind.PROXY_FOLLOWUP
    for match_id, need_user, offer_user in matches:
        if need_user is not None:
            rows.append(Notice(f"proxy-proposal:{match_id}:need", proposal, int(need_user),
                               {"match": match_id, "side": "need"}, False))
        if offer_user is not None:
            rows.append(Notice(f"proxy-proposal:{match_id}:offer", proposal, int(offer_user),
                               {"match": match_id, "side": "offer"}, False))
        if need_user is None or offer_user is None:
            if organizers is None:
                organizers = [int(o) for (o,) in await tx.all(REACHABLE_ORGANIZERS)]
            rows += [Notice(f"proxy-followup:{match_id}:proposed:{o}", followup, o,
                            {"match": match_id}, False) for o in organizers]
    await queue_in(tx, rows, new_keys=new_matches)


async def queue_to_both(tx: Tx, match_id: int, key: str, kind: NoticeKind) -> None:
    """The same word to each side on Telegram (a decline, an expiry)."""
    sides = await sides_of(tx, match_id)
    users = (sides.need_user, sides.offer_user) if sides else ()
    await queue_in(tx, [Notice(f"{key}:{match_id}:{int(uid)}", kind, int(uid),
                               {"match": match_id}, False) for uid in users if uid is not None])


async def queue_accepted(tx: Tx, match_id: int) -> None:
    """Both said yes: the holder is asked for their voter details (the organizers, for a
    holder off Telegram), the giver told."""
    sides = await sides_of(tx, match_id)
    assert sides is not None
    rows = _to(f"proxy-details:{match_id}", NoticeKind.PROXY_DETAILS_REQUEST,
               sides.offer_user, match_id)
    if sides.offer_user is None:
        rows += await to_organizers(tx, f"proxy-followup:{match_id}:details",
                                    NoticeKind.PROXY_FOLLOWUP, {"match": match_id})
    rows += _to(f"proxy-accepted:{match_id}", NoticeKind.PROXY_ACCEPTED, sides.need_user,
                match_id)
    await queue_in(tx, rows)


async def queue_confirmed(tx: Tx, match_id: int) -> None:
    """The holder's details given: the giver's last steps (the organizers', for a giver
    off Telegram), the holder's thanks."""
    sides = await sides_of(tx, match_id)
    assert sides is not None
    rows = _to(f"proxy-confirmed:{match_id}", NoticeKind.PROXY_CONFIRMED, sides.need_user,
               match_id)
    if sides.need_user is None:
        rows += await to_organizers(tx, f"proxy-followup:{match_id}:confirmed",
                                    NoticeKind.PROXY_FOLLOWUP, {"match": match_id})
    rows += _to(f"proxy-confirmed-holder:{match_id}", NoticeKind.PROXY_CONFIRMED_HOLDER,
                sides.offer_user, match_id)
    await queue_in(tx, rows)


async def queue_registered(tx: Tx, match_id: int) -> None:
    """The giver made it official: the holder's thanks."""
    sides = await sides_of(tx, match_id)
    if sides is not None:
        await queue_in(tx, _to(f"proxy-registered:{match_id}", NoticeKind.PROXY_REGISTERED,
                               sides.offer_user, match_id))


async def queue_withdrawn(tx: Tx, match_id: int, leaving: int) -> None:
    """`leaving` (a request) withdrew: the other side is told, through the organizers when
    off Telegram."""
    sides = await sides_of(tx, match_id)
    assert sides is not None
    other_user = sides.offer_user if sides.need_id == leaving else sides.need_user
    if other_user is not None:
        rows = _to(f"proxy-cancelled:{match_id}", NoticeKind.PROXY_CANCELLED, other_user,
                   match_id)
    else:
        rows = await to_organizers(tx, f"proxy-followup:{match_id}:withdrawn",
                                   NoticeKind.PROXY_WITHDRAWN, {"match": match_id})
    await queue_in(tx, rows)

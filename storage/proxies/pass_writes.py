"""The proxy pass's writes: a wave's matches, their places, their needs' status and
the holders they fill, in three statements over arrays, one element a row, in either
dialect. Tens of thousands of single-row statements cost PostgreSQL seconds (each one's
round trip and index work); SQLite reads its arrays from JSON, as fast as an executemany of
named rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from storage.driver import SQL, Tx
from storage.proxies.rules import MATCHED, OPEN, PROPOSAL_HOURS, PROPOSED

_INSERT_MATCHES = {
    "postgres": SQL.of(
        "INSERT INTO proxy_match (id, need_id, offer_id, rounds_mask, status, proposed_at, "
        f"expires_at) SELECT m.id, m.need, m.offer, m.mask, {PROPOSED}, :proposed_at, "
        ":expires_at FROM unnest(:ids::int[], :needs::int[], :offers::int[], :masks::int[]) "
        "AS m(id, need, offer, mask)"),
    "sqlite": SQL.of(
        "INSERT INTO proxy_match (id, need_id, offer_id, rounds_mask, status, proposed_at, "
        "expires_at) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        f"json_extract(value, '$[2]'), json_extract(value, '$[3]'), {PROPOSED}, "
        ":proposed_at, :expires_at FROM json_each(:matches)"),
}
_INSERT_SLOTS = {
    "postgres": SQL.of(
        "INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) SELECT * FROM "
        "unnest(:offers::int[], :round_dates::text[], :slots::int[], :matches::int[])"),
    "sqlite": SQL.of(
        "INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) "
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        "json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(:slots)"),
}
# The needs matched and the holders the pass filled (`rules.ROOM_LEFT`, known from its own
# count), in one statement: each is a scan of the table on PostgreSQL.
_NOW_MATCHED = SQL.dialects(
    f"UPDATE proxy_request SET status = {MATCHED} WHERE id IN (SELECT value FROM "
    f"json_each(:ids)) AND status = {OPEN}",
    f"UPDATE proxy_request SET status = {MATCHED} WHERE id = ANY(:ids::int[]) "
    f"AND status = {OPEN}")


async def write_pass(tx: Tx, matches: list[tuple[int, int, int, int]],
                     slots: list[tuple[int, str, int, int]], matched: list[int],
                     now: datetime) -> None:
    """`matches`: (id, need, offer, rounds mask); `slots`: (offer, round date, slot,
    match); `matched`: the needs now matched and the holders with no place left now.
    Proposed now, expiring after PROPOSAL_HOURS."""
    stamp, expires = tx.value(now), tx.value(now + timedelta(hours=PROPOSAL_HOURS))
    if tx.dialect == "postgres":
        ids, need_ids, offers, masks = (list(c) for c in zip(*matches, strict=True))
        await tx.run(_INSERT_MATCHES["postgres"], ids=ids, needs=need_ids, offers=offers,
                     masks=masks, proposed_at=stamp, expires_at=expires)
        offers, dates, numbers, match_ids = (list(c) for c in zip(*slots, strict=True))
        await tx.run(_INSERT_SLOTS["postgres"], offers=offers, round_dates=dates,
                     slots=numbers, matches=match_ids)
    else:
        await tx.run(_INSERT_MATCHES["sqlite"], matches=json.dumps(matches),
                     proposed_at=stamp, expires_at=expires)
        await tx.run(_INSERT_SLOTS["sqlite"], slots=json.dumps(slots))
    await tx.run(_NOW_MATCHED, ids=tx.array(matched))

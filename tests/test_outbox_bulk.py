"""Notices are queued in one statement over arrays, on SQLite and PostgreSQL, and keep the
outbox's rules: a key already queued is left alone, every field as given."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Outbox, OutboxStatus
from storage.outbox import Notice, NoticeKind, enqueue


async def test_a_thousand_proposals_are_queued_at_once_and_a_key_only_once(db, frozen_clock):
    await enqueue(db, [Notice("proxy-proposal:7:need", NoticeKind.PROXY_PROPOSAL, 42,
                              {"match": 7, "side": "first"}, False)])
    notices = [Notice(f"proxy-proposal:{m}:need", NoticeKind.PROXY_PROPOSAL, 1000 + m,
                      {"match": m, "side": "need"}, m % 2 == 0) for m in range(1, 1001)]

    await enqueue(db, notices + notices[:10])  # the same keys twice in one batch, too

    async with db.read() as session:
        rows = {row.key: row for row in (await session.execute(select(Outbox))).scalars()}
    assert len(rows) == 1000
    kept = rows["proxy-proposal:7:need"]
    assert (kept.chat_id, kept.params) == (42, {"match": 7, "side": "first"})
    row = rows["proxy-proposal:8:need"]
    assert (row.kind, row.chat_id, row.params, row.quiet_hours, row.status, row.attempts) == (
        NoticeKind.PROXY_PROPOSAL, 1008, {"match": 8, "side": "need"}, True,
        OutboxStatus.PENDING, 0)
    assert rows["proxy-proposal:9:need"].quiet_hours is False

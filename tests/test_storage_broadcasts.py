"""Broadcasts in storage, on SQLite and PostgreSQL: audiences, and two organizers at once."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.broadcasts import audience, cancel_broadcast, create_broadcast, start_due
from storage.models import AuditLog, Outbox
from storage.users import Profile, decide_volunteer, ensure_user, request_to_call


async def people(db, count: int) -> list[int]:
    ids = list(range(500, 500 + count))
    for uid in ids:
        await ensure_user(db, Profile(uid, f"P{uid}", language_code="fr"))
    return ids


async def broadcast_to_everyone(db, organizer: int = 900) -> int:
    broadcast = await create_broadcast(
        db, text="Appel du 18 juin", visible_length=16, footer="— Toile", audience_kind="everyone",
        audience_value=None, shift_id=None, scheduled_at=None, actor_id=organizer)
    return broadcast.id


async def test_two_organizers_cancelling_at_once_one_of_them_does(db, campaign, frozen_clock):
    await people(db, 20)
    broadcast_id = await broadcast_to_everyone(db)
    assert await start_due(db) == [broadcast_id]
    results = await asyncio.gather(cancel_broadcast(db, broadcast_id, 900),
                                   cancel_broadcast(db, broadcast_id, 901))
    assert sorted(results) == [False, True]
    async with db.read() as session:
        rows = (await session.execute(select(Outbox))).scalars().all()
        audits = (await session.execute(select(AuditLog).where(
            AuditLog.action == "broadcasts.cancel"))).scalars().all()
    assert len(rows) == 20 and {(r.status, r.error) for r in rows} == {("skipped", "cancelled")}
    assert len(audits) == 1


async def test_audiences_leave_out_the_unreachable(db, campaign, frozen_clock):
    from storage.users import mark_blocked, set_stopped

    ids = await people(db, 4)
    await request_to_call(db, ids[0])
    await decide_volunteer(db, ids[0], True, actor_id=None)
    await mark_blocked(db, ids[1])
    await set_stopped(db, ids[2], True)
    assert sorted(await audience(db, "everyone")) == [ids[0], ids[3]]
    assert await audience(db, "volunteers") == [ids[0]]
    assert sorted(await audience(db, "under3")) == [ids[0], ids[3]]

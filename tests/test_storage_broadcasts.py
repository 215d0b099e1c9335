"""Broadcasts in storage, on SQLite and PostgreSQL: audiences, and two organizers at once."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.broadcasts import audience, cancel_broadcast, create_broadcast, start_due
from storage.driver import SQL
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


# ---- starting and finishing, at any moment relative to each other ----------------------------

class _Interleaved:
    """A transaction whose every statement is followed by `hook` (another connection
    looking on while the transaction is still open)."""

    def __init__(self, tx, hook) -> None:
        self._tx, self._hook = tx, hook

    async def run(self, sql, **params):
        result = await self._tx.run(sql, **params)
        await self._hook()
        return result

    async def all(self, sql, **params):
        result = await self._tx.all(sql, **params)
        await self._hook()
        return result

    async def one(self, sql, **params):
        result = await self._tx.one(sql, **params)
        await self._hook()
        return result

    async def many(self, sql, rows):
        await self._tx.many(sql, rows)
        await self._hook()

    def value(self, value):
        return self._tx.value(value)

    def array(self, values):
        return self._tx.array(values)

    @property
    def dialect(self):
        return self._tx.dialect


def interleave(db, during, after) -> None:
    """Run `after` once each write transaction of `db` has committed, and `during` after
    each of its statements while the transaction is open."""
    from contextlib import asynccontextmanager

    fast_write, write = db.fast_write, db.write

    @asynccontextmanager
    async def watched_fast_write(*args, **kwargs):
        async with fast_write(*args, **kwargs) as tx:
            yield _Interleaved(tx, during)
        await after()

    @asynccontextmanager
    async def watched_write(*args, **kwargs):
        async with write(*args, **kwargs) as session:
            yield session
        await after()

    db.fast_write, db.write = watched_fast_write, watched_write


async def test_a_tick_at_any_moment_of_a_start_never_finishes_it_before_its_rows(
        db, campaign, frozen_clock):
    """The progress tick of a second process, between any two steps of a start and, on
    PostgreSQL, between any two statements of its transaction: the broadcast is never done
    with rows missing, and stays cancellable."""
    from storage.broadcasts import finish_if_done, progress, sending
    from storage.database import Database

    await people(db, 20)
    broadcast_id = await broadcast_to_everyone(db)
    other = Database(str(db.url.render_as_string(hide_password=False)))
    seen: list[tuple[str, int, int]] = []

    async def look(finish: bool) -> None:
        if finish:
            for bid in {*await sending(other), broadcast_id}:
                await finish_if_done(other, bid)
        state = await progress(other, broadcast_id)
        async with other.fast_read() as tx:
            rows = (await tx.one(SQL.of("SELECT count(*) FROM outbox WHERE batch = :batch"),
                                 batch=f"broadcast:{broadcast_id}"))[0]
        seen.append((state.status, int(rows), state.total))

    # SQLite has one writer at a time: while the start writes, the other can only read.
    interleave(db, during=lambda: look(finish=not db.is_sqlite), after=lambda: look(True))
    try:
        assert await start_due(db) == [broadcast_id]
        await look(True)
    finally:
        await other.dispose()
    assert seen, "the tick never ran"
    assert all(status in ("scheduled", "sending") for status, _rows, _total in seen), seen
    assert all(rows == total == 20 for status, rows, total in seen if status == "sending")
    assert seen[-1] == ("sending", 20, 20)
    del db.fast_write, db.write
    assert await cancel_broadcast(db, broadcast_id, 900)


async def test_a_broadcast_is_done_only_when_all_its_rows_are_there_and_finished(
        db, campaign, frozen_clock):
    from storage import outbox
    from storage.broadcasts import finish_if_done

    await people(db, 3)
    broadcast_id = await broadcast_to_everyone(db)
    await start_due(db)
    # A row missing (a start that went wrong): not done, whatever the others say.
    async with db.fast_write() as tx:
        await tx.run(SQL.of("DELETE FROM outbox WHERE id = (SELECT min(id) FROM outbox)"))
    batch = await outbox.claim_due(db, 10, messaging_open=True)
    for delivery in batch:
        assert await outbox.mark_sending(db, delivery)
        await outbox.mark_sent(db, delivery, 1)
    assert not await finish_if_done(db, broadcast_id)
    assert await cancel_broadcast(db, broadcast_id, 900)


async def test_cancel_holds_until_the_last_row_is_sent_and_says_finished_after(
        db, campaign, frozen_clock):
    from storage import outbox
    from storage.broadcasts import finish_if_done, progress

    await people(db, 3)
    first, second = await broadcast_to_everyone(db), await broadcast_to_everyone(db)
    await start_due(db)
    batch = await outbox.claim_due(db, 10, messaging_open=True)
    by_batch = {b: [d for d in batch if d.key.startswith(f"broadcast:{b}:")]
                for b in (first, second)}
    for broadcast_id, deliveries in by_batch.items():
        for delivery in deliveries:
            assert await outbox.mark_sending(db, delivery)
        for delivery in deliveries[:-1]:
            await outbox.mark_sent(db, delivery, 1)
        # The last one on its way to Telegram: not done yet.
        assert not await finish_if_done(db, broadcast_id)
    assert await cancel_broadcast(db, first, 900)  # what was on its way still lands
    await outbox.mark_sent(db, by_batch[first][-1], 1)
    assert (await progress(db, first)).status == "cancelled"

    await outbox.mark_sent(db, by_batch[second][-1], 1)
    assert await finish_if_done(db, second)
    assert not await cancel_broadcast(db, second, 900)  # "Already finished"
    assert (await progress(db, second)).status == "done"


async def test_someone_erased_mid_broadcast_does_not_hold_it_open(db, campaign, frozen_clock):
    from storage import outbox
    from storage.broadcasts import finish_if_done, progress
    from storage.forget import forget_person

    ids = await people(db, 3)
    broadcast_id = await broadcast_to_everyone(db)
    await start_due(db)
    batch = await outbox.claim_due(db, 1, messaging_open=True)
    assert await outbox.mark_sending(db, batch[0])
    await outbox.mark_sent(db, batch[0], 1)
    await forget_person(db, batch[0].chat_id)  # sent already: it stays counted
    await forget_person(db, next(i for i in ids if i != batch[0].chat_id))  # not sent yet
    for delivery in await outbox.claim_due(db, 10, messaging_open=True):
        assert await outbox.mark_sending(db, delivery)
        await outbox.mark_sent(db, delivery, 1)
    assert await finish_if_done(db, broadcast_id)
    state = await progress(db, broadcast_id)
    assert (state.status, state.sent, state.skipped, state.total) == ("done", 2, 1, 3)


async def test_a_call_to_join_a_shift_is_not_scheduled_for_after_the_shift(db, campaign,
                                                                            frozen_clock):
    """A broadcast whose Join button names Saturday's shift, scheduled for Sunday: refused,
    it would go out with no button; scheduled for Saturday morning, it is made."""
    from datetime import timedelta

    import pytest

    from storage.broadcasts import BroadcastError
    from storage.shifts import add_shift

    now = frozen_clock.now
    shift = await add_shift(db, room="Saint-Denis", address="6 rue de la République",
                            starts_at=now + timedelta(days=1),
                            ends_at=now + timedelta(days=1, hours=3), capacity=10)
    await ensure_user(db, Profile(501, "Camille"))

    def scheduled(delay: timedelta):
        return create_broadcast(db, text="Join us!", visible_length=8, footer="-",
                                audience_kind="everyone", audience_value=None,
                                shift_id=shift.id, scheduled_at=now + delay, actor_id=None)

    with pytest.raises(BroadcastError, match="shift_past"):
        await scheduled(timedelta(days=2))
    assert (await scheduled(timedelta(hours=20))).total == 1

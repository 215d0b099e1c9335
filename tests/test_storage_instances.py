"""One `toile run` at a time against a database: the lease row the running one renews."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.instances import LEASE_SECONDS, RENEW_SECONDS, Instance, acquire, release, renew

FIRST = Instance(holder="first", host="web-1", pid=101)
SECOND = Instance(holder="second", host="web-2", pid=202)


async def test_a_second_instance_is_refused_while_the_first_renews_its_lease(db, frozen_clock):
    started = frozen_clock.now
    assert (await acquire(db, FIRST)).acquired
    for _ in range(3 * LEASE_SECONDS // RENEW_SECONDS):  # far longer than one lease
        frozen_clock.advance(seconds=RENEW_SECONDS)
        assert await renew(db, FIRST)
        refused = await acquire(db, SECOND)
        assert not refused.acquired
    running = refused.holder
    assert (running.host, running.pid, running.started_at) == ("web-1", 101, started)
    assert running.renewed_at == frozen_clock.now


async def test_a_lease_left_to_lapse_by_a_crash_is_taken_over(db, frozen_clock):
    assert (await acquire(db, FIRST)).acquired
    frozen_clock.advance(seconds=LEASE_SECONDS - 1)  # killed -9: no renewal, no release
    assert not (await acquire(db, SECOND)).acquired
    frozen_clock.advance(seconds=2)
    taken = await acquire(db, SECOND)
    assert taken.acquired and taken.holder.host == "web-2"
    assert taken.took_over is not None and taken.took_over.pid == 101
    # The first, back from the dead, finds it lost the lease and must stop; it cannot take
    # it back while the second renews.
    assert not await renew(db, FIRST)
    assert not (await acquire(db, FIRST)).acquired
    await release(db, FIRST)  # its clean stop frees nothing of the second's
    assert not (await acquire(db, Instance("third", "web-3", 303))).acquired


async def test_a_clean_stop_frees_the_database_at_once(db, frozen_clock):
    assert (await acquire(db, FIRST)).acquired
    await release(db, FIRST)
    second = await acquire(db, SECOND)
    assert second.acquired and second.took_over is None


async def test_two_starts_at_once_make_one_instance(db, frozen_clock):
    results = await asyncio.gather(*(acquire(db, Instance(f"i{n}", "web", n)) for n in range(4)))
    assert sum(result.acquired for result in results) == 1
    winner = next(result.holder for result in results if result.acquired)
    assert {result.holder.holder for result in results} == {winner.holder}
    assert winner.expires_at == frozen_clock.now + timedelta(seconds=LEASE_SECONDS)

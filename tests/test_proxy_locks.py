"""The matching lock where it meets the rest: the phone bank's lock on a volunteer, and
passes that overlap. PostgreSQL only: SQLite's writers take turns, and these locks are
PostgreSQL's advisory locks."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.calling.queue import SERIALIZE_VOLUNTEER
from storage.models import ProxyKind, ProxyMatch
from storage.proxies import Place, Requester, create_request, match_need
from tests.conftest import load_example_campaign, make_postgres

ROUND1 = "2024-06-30"
SAINT_DENIS_12 = Place("93066", "93", "12", "Seine-Saint-Denis 1")


async def test_a_volunteer_taking_a_card_does_not_hold_up_the_proxy_matching(
        postgres_url, frozen_clock):
    """Volunteer 7270001 is taking their next card (the phone bank holds their lock) while
    Nadia asks for a proxy: she is matched with Sophie at once; the two locks are apart."""
    db = await make_postgres(postgres_url)
    try:
        campaign = await load_example_campaign(db)
        await create_request(db, campaign, ProxyKind.OFFER, Requester("Sophie", user_id=11),
                             SAINT_DENIS_12, [ROUND1])
        frozen_clock.advance(minutes=1)
        nadia = await create_request(db, campaign, ProxyKind.NEED,
                                     Requester("Nadia", user_id=12), SAINT_DENIS_12, [ROUND1])
        async with db.fast_write() as volunteer_taking_a_card:
            await volunteer_taking_a_card.one(SERIALIZE_VOLUNTEER, volunteer_id=7_270_001)
            match_id = await asyncio.wait_for(match_need(db, campaign, nadia), 5)
        assert match_id is not None
        async with db.read() as session:
            needs = (await session.execute(select(ProxyMatch.need_id))).scalars().all()
        assert needs == [nadia]
    finally:
        await db.dispose()


PARIS_3 = Place("75056", "75", "3", "Paris 1")


async def ask(db, campaign, frozen_clock, kind, name, place, user_id):
    frozen_clock.advance(minutes=1)
    return await create_request(db, campaign, kind, Requester(name, user_id=user_id), place,
                                [ROUND1])


async def test_two_passes_at_once_match_each_need_once(postgres_url, frozen_clock,
                                                       monkeypatch):
    """The tick's pass and another one (a second process's) begin together. The first to
    take the pass's lock matches Nadia with Sophie; the other waits, however long the
    first takes between its check and its writes, then finds nothing left to do."""
    from storage.proxies import full_pass

    db = await make_postgres(postgres_url)
    try:
        campaign = await load_example_campaign(db)
        sophie = await ask(db, campaign, frozen_clock, ProxyKind.OFFER, "Sophie",
                           SAINT_DENIS_12, 21)
        nadia = await ask(db, campaign, frozen_clock, ProxyKind.NEED, "Nadia",
                          SAINT_DENIS_12, 22)
        written, other_checked = [], asyncio.Event()

        async def write_once_the_other_has_checked(tx, *args):
            written.append(args)
            if len(written) == 1:  # give the other pass a second to check the same needs
                try:
                    await asyncio.wait_for(other_checked.wait(), 1)
                except TimeoutError:
                    pass
            else:
                other_checked.set()
            await write_pass(tx, *args)

        write_pass = full_pass.write_pass
        monkeypatch.setattr(full_pass, "write_pass", write_once_the_other_has_checked)
        made = await asyncio.gather(full_pass.match_all(db, campaign),
                                    full_pass.match_all(db, campaign))

        assert sorted(len(m) for m in made) == [0, 1] and len(written) == 1
        async with db.read() as session:
            pairs = (await session.execute(select(ProxyMatch.need_id,
                                                  ProxyMatch.offer_id))).all()
        assert [tuple(p) for p in pairs] == [(nadia, sophie)]
    finally:
        await db.dispose()


async def test_two_waves_are_written_at_once_each_with_its_own_match_ids(
        postgres_url, frozen_clock, monkeypatch):
    """Paris and Saint-Denis, one wave each: Saint-Denis's wave is checked and written while
    Paris's is still being written. Each need has its holder, and no match id is given
    twice."""
    from storage.proxies import full_pass

    monkeypatch.setattr(full_pass, "WAVE_REQUESTS", 1)
    db = await make_postgres(postgres_url)
    try:
        campaign = await load_example_campaign(db)
        lina = await ask(db, campaign, frozen_clock, ProxyKind.OFFER, "Lina", PARIS_3, 31)
        hugo = await ask(db, campaign, frozen_clock, ProxyKind.NEED, "Hugo", PARIS_3, 32)
        sophie = await ask(db, campaign, frozen_clock, ProxyKind.OFFER, "Sophie",
                           SAINT_DENIS_12, 33)
        nadia = await ask(db, campaign, frozen_clock, ProxyKind.NEED, "Nadia",
                          SAINT_DENIS_12, 34)
        arrived, second_arrived, at_once = [], asyncio.Event(), []

        async def first_waits_for_the_second(tx, matches, *args):
            arrived.append(matches)
            if len(arrived) == 1:
                try:
                    await asyncio.wait_for(second_arrived.wait(), 2)
                    at_once.append(True)
                except TimeoutError:
                    pass
            else:
                second_arrived.set()
            await write_pass(tx, matches, *args)

        write_pass = full_pass.write_pass
        monkeypatch.setattr(full_pass, "write_pass", first_waits_for_the_second)
        made = await full_pass.match_all(db, campaign)

        assert at_once == [True] and len(arrived) == 2
        assert len(made) == 2 == len(set(made))
        async with db.read() as session:
            pairs = {tuple(p) for p in await session.execute(
                select(ProxyMatch.need_id, ProxyMatch.offer_id))}
        assert pairs == {(hugo, lina), (nadia, sophie)}
    finally:
        await db.dispose()


async def test_a_pass_stopped_while_both_waves_write_holds_up_no_one(
        postgres_url, frozen_clock, monkeypatch):
    """Paris's wave and Saint-Denis's are being written at once when the pass is cancelled
    (the bot stopping), Saint-Denis's in the middle of a statement; the server is across a
    network, so the word to cancel takes a moment to reach it. Then Nadia asks for a proxy
    in Saint-Denis while a few people use the bot: she is matched with Sophie at once,
    nothing of the stopped pass left holding the matching lock."""
    import asyncpg.connect_utils

    from storage.driver import SQL
    from storage.proxies import full_pass

    monkeypatch.setattr(full_pass, "WAVE_REQUESTS", 1)
    cancel_request = asyncpg.connect_utils._cancel

    async def across_a_network(**kwargs):
        await asyncio.sleep(0.3)
        return await cancel_request(**kwargs)

    monkeypatch.setattr(asyncpg.connect_utils, "_cancel", across_a_network)
    db = await make_postgres(postgres_url)
    try:
        campaign = await load_example_campaign(db)
        await ask(db, campaign, frozen_clock, ProxyKind.OFFER, "Lina", PARIS_3, 41)
        await ask(db, campaign, frozen_clock, ProxyKind.NEED, "Hugo", PARIS_3, 42)
        sophie = await ask(db, campaign, frozen_clock, ProxyKind.OFFER, "Sophie",
                           SAINT_DENIS_12, 43)
        await ask(db, campaign, frozen_clock, ProxyKind.NEED, "Malik", SAINT_DENIS_12, 44)

        async def someone_using_the_bot():
            # Connections in use meanwhile: the pool does not hand the stopped wave's
            # straight back to Nadia's matcher, which would find it and drop it.
            async with db.fast_read() as tx:
                await tx.one(SQL.of("SELECT 1"))
                await asyncio.sleep(0.1)

        await asyncio.gather(*(someone_using_the_bot() for _ in range(8)))
        write_pass = full_pass.write_pass
        writing, never, both_writing = [], asyncio.Event(), asyncio.Event()

        async def paris_waits_saint_denis_mid_statement(tx, matches, *args):
            writing.append(matches)
            if len(writing) == 1:
                await never.wait()
            else:
                both_writing.set()
                await tx.one(SQL.of("SELECT pg_sleep(0.1)"))
            await write_pass(tx, matches, *args)

        monkeypatch.setattr(full_pass, "write_pass", paris_waits_saint_denis_mid_statement)
        passing = asyncio.ensure_future(full_pass.match_all(db, campaign))
        await asyncio.wait_for(both_writing.wait(), 5)
        await asyncio.sleep(0.02)  # Saint-Denis's statement under way
        passing.cancel()
        await asyncio.gather(passing, return_exceptions=True)
        monkeypatch.setattr(full_pass, "write_pass", write_pass)

        nadia = await ask(db, campaign, frozen_clock, ProxyKind.NEED, "Nadia",
                          SAINT_DENIS_12, 46)
        match = await asyncio.wait_for(match_need(db, campaign, nadia), 5)

        assert match is not None
        async with db.read() as session:
            pairs = [tuple(p) for p in await session.execute(
                select(ProxyMatch.need_id, ProxyMatch.offer_id))]
        assert pairs == [(nadia, sophie)]
    finally:
        await db.dispose()

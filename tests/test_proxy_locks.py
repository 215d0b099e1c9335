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

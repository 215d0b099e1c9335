"""A holder whose places are all taken leaves the holder search (their offer is `matched`),
and comes back the moment a place is theirs again: a decline, an expiry, a withdrawal, the
giver's /forget, a campaign reloaded. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from storage.campaigns import load_campaign, parse_campaign_file
from storage.forget import forget_person
from storage.models import ProxyKind, ProxyRequest, ProxySlot
from storage.proxies import (
    Place,
    Requester,
    answer,
    cancel_request,
    create_request,
    expire_proposals,
    match_all,
    match_need,
)
from storage.users import Profile, ensure_user
from tests.conftest import ROOT

ROUND1, ROUND2 = "2024-06-30", "2024-07-07"
SAINT_DENIS_12 = Place("93066", "93", "12", "Seine-Saint-Denis 1")
SAINT_DENIS_7 = Place("93066", "93", "7", "Seine-Saint-Denis 1")


async def status_of(db, request_id) -> str:
    async with db.read() as session:
        return (await session.execute(select(ProxyRequest.status).where(
            ProxyRequest.id == request_id))).scalar_one()


async def ask(db, campaign, kind, name, place, rounds, user_id):
    return await create_request(db, campaign, kind, Requester(name, user_id=user_id), place,
                                rounds)


async def test_a_holder_full_in_every_round_leaves_the_search_until_a_decline(
        db, campaign, frozen_clock):
    sophie = await ask(db, campaign, ProxyKind.OFFER, "Sophie", SAINT_DENIS_12, [ROUND1], 801)
    nadia = await ask(db, campaign, ProxyKind.NEED, "Nadia", SAINT_DENIS_12, [ROUND1], 802)
    match = await match_need(db, campaign, nadia)
    assert match is not None
    assert await status_of(db, sophie) == "matched"  # her one place is Nadia's

    karim = await ask(db, campaign, ProxyKind.NEED, "Karim", SAINT_DENIS_7, [ROUND1], 803)
    assert await match_need(db, campaign, karim) is None  # nobody free

    await answer(db, match, "need", False)  # Nadia declines: Sophie's place is free again
    assert await status_of(db, sophie) == "open"
    again = await match_need(db, campaign, karim)
    assert again is not None


async def test_a_holder_of_two_rounds_stays_open_while_a_round_is_free(db, campaign,
                                                                       frozen_clock):
    sophie = await ask(db, campaign, ProxyKind.OFFER, "Sophie", SAINT_DENIS_12,
                       [ROUND1, ROUND2], 811)
    nadia = await ask(db, campaign, ProxyKind.NEED, "Nadia", SAINT_DENIS_12, [ROUND1], 812)
    assert await match_need(db, campaign, nadia) is not None
    assert await status_of(db, sophie) == "open"  # the second round is free
    omar = await ask(db, campaign, ProxyKind.NEED, "Omar", SAINT_DENIS_12, [ROUND2], 813)
    assert await match_need(db, campaign, omar) is not None
    assert await status_of(db, sophie) == "matched"


async def test_the_pass_closes_the_holders_it_fills_and_an_expiry_opens_them(
        db, campaign, frozen_clock):
    sophie = await ask(db, campaign, ProxyKind.OFFER, "Sophie", SAINT_DENIS_12,
                       [ROUND1, ROUND2], 821)
    await ask(db, campaign, ProxyKind.NEED, "Nadia", SAINT_DENIS_12, [ROUND1, ROUND2], 822)
    assert len(await match_all(db, campaign)) == 1
    assert await status_of(db, sophie) == "matched"
    frozen_clock.advance(hours=25)
    assert await expire_proposals(db)
    assert await status_of(db, sophie) == "open"


async def test_the_pass_leaves_a_holder_open_while_one_of_their_rounds_is_free(
        db, campaign, frozen_clock):
    sophie = await ask(db, campaign, ProxyKind.OFFER, "Sophie", SAINT_DENIS_12,
                       [ROUND1, ROUND2], 831)
    await ask(db, campaign, ProxyKind.NEED, "Nadia", SAINT_DENIS_12, [ROUND1], 832)
    assert len(await match_all(db, campaign)) == 1
    assert await status_of(db, sophie) == "open"  # her second round is still free
    await ask(db, campaign, ProxyKind.NEED, "Omar", SAINT_DENIS_7, [ROUND2], 833)
    assert len(await match_all(db, campaign)) == 1
    assert await status_of(db, sophie) == "matched"


async def test_a_need_withdrawn_or_its_giver_forgotten_gives_the_holder_back(
        db, campaign, frozen_clock):
    await ensure_user(db, Profile(832, "Nadia"))
    sophie = await ask(db, campaign, ProxyKind.OFFER, "Sophie", SAINT_DENIS_12, [ROUND1], 831)
    nadia = await ask(db, campaign, ProxyKind.NEED, "Nadia", SAINT_DENIS_12, [ROUND1], 832)
    assert await match_need(db, campaign, nadia) is not None
    await cancel_request(db, nadia)
    assert await status_of(db, sophie) == "open"

    zoe = await ask(db, campaign, ProxyKind.NEED, "Zoé", SAINT_DENIS_12, [ROUND1], 833)
    await ensure_user(db, Profile(833, "Zoé"))
    assert await match_need(db, campaign, zoe) is not None
    assert await status_of(db, sophie) == "matched"
    await forget_person(db, 833)
    assert await status_of(db, sophie) == "open"


async def test_a_campaign_reloaded_opens_its_full_holders(db, campaign, frozen_clock):
    """More places a holder (a capacity raised), other rounds: they are looked at again."""
    sophie = await ask(db, campaign, ProxyKind.OFFER, "Sophie", SAINT_DENIS_12, [ROUND1], 841)
    nadia = await ask(db, campaign, ProxyKind.NEED, "Nadia", SAINT_DENIS_12, [ROUND1], 842)
    assert await match_need(db, campaign, nadia) is not None
    assert await status_of(db, sophie) == "matched"
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    fields["proxy_capacity"] = 2
    reloaded, _created = await load_campaign(db, fields)
    assert await status_of(db, sophie) == "open"
    karim = await ask(db, reloaded, ProxyKind.NEED, "Karim", SAINT_DENIS_12, [ROUND1], 843)
    assert await match_need(db, reloaded, karim) is not None  # her second place


async def test_a_place_cannot_name_another_holder_than_its_match(db, campaign, frozen_clock):
    sophie = await ask(db, campaign, ProxyKind.OFFER, "Sophie", SAINT_DENIS_12, [ROUND1], 841)
    leila = await ask(db, campaign, ProxyKind.OFFER, "Leila", SAINT_DENIS_7, [ROUND2], 842)
    nadia = await ask(db, campaign, ProxyKind.NEED, "Nadia", SAINT_DENIS_12, [ROUND1], 843)
    match = await match_need(db, campaign, nadia)
    async with db.read() as session:
        (place,) = (await session.execute(select(ProxySlot).where(
            ProxySlot.match_id == match))).scalars().all()
    assert place.offer_id == sophie
    # A bug writing Leila's place for Sophie's match is refused by the database itself.
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await session.execute(text(
                "INSERT INTO proxy_slot (offer_id, round_date, slot, match_id) "
                "VALUES (:offer, :round, 1, :match)"),
                {"offer": leila, "round": ROUND2, "match": match})

"""Vote proxies in storage, on SQLite and PostgreSQL: requests, matching under the French
rules, answers, the holder's details, cancellation, expiry, erasure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage.models import PollingStation, ProxyKind, ProxyMatch, ProxyRequest
from storage.proxies import (
    Place,
    ProxyError,
    Requester,
    answer,
    cancel_request,
    check_holder_details,
    create_request,
    erase_voter_details,
    expire_proposals,
    give_holder_details,
    mark_registered,
    match_all,
    match_need,
    match_view,
    overview,
)

ROUND1, ROUND2 = "2024-06-30", "2024-07-07"
BOTH = [ROUND1, ROUND2]
SAINT_DENIS_12 = Place("93066", "93", "12", "Seine-Saint-Denis 1")
SAINT_DENIS_7 = Place("93066", "93", "7", "Seine-Saint-Denis 1")
AUBERVILLIERS_3 = Place("93001", "93", "3", "Seine-Saint-Denis 1")
BOBIGNY_1 = Place("93008", "93", "1", "Seine-Saint-Denis 6")
LYON_3 = Place("69383", "69", "3", "Rhône 3")

NEED, OFFER = ProxyKind.NEED, ProxyKind.OFFER


async def need(db, campaign, name, place, rounds=BOTH, user_id=None):
    return await create_request(db, campaign, NEED, Requester(name, user_id=user_id), place, rounds)


async def offer(db, campaign, name, place, rounds=BOTH, user_id=None):
    return await create_request(db, campaign, OFFER, Requester(name, user_id=user_id), place, rounds)


async def holder_of(db, campaign, match_id) -> str:
    view = await match_view(db, campaign, match_id)
    return view.offer.first_name


async def test_the_best_holder_is_at_the_same_station_then_commune_constituency_department(
        db, campaign, frozen_clock):
    await offer(db, campaign, "Lyon", LYON_3)
    await offer(db, campaign, "Bobigny", BOBIGNY_1)  # same department
    frozen_clock.advance(minutes=1)
    await offer(db, campaign, "Aubervilliers", AUBERVILLIERS_3)  # same constituency
    await offer(db, campaign, "Station 7, later", SAINT_DENIS_7)
    frozen_clock.advance(minutes=1)
    await offer(db, campaign, "Station 12", SAINT_DENIS_12)

    picks = []
    for i in range(5):
        match = await match_need(db, campaign, await need(db, campaign, f"N{i}", SAINT_DENIS_12))
        picks.append(await holder_of(db, campaign, match) if match else None)
    assert picks == ["Station 12", "Station 7, later", "Aubervilliers", "Bobigny", None]


async def test_among_equals_the_holder_waiting_longest(db, campaign, frozen_clock):
    await offer(db, campaign, "First", SAINT_DENIS_7)
    frozen_clock.advance(hours=1)
    await offer(db, campaign, "Second", SAINT_DENIS_7)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12))
    assert await holder_of(db, campaign, match) == "First"


async def test_one_french_proxy_per_holder_per_round(db, campaign, frozen_clock):
    await offer(db, campaign, "Holder", SAINT_DENIS_12, rounds=BOTH)
    first = await match_need(db, campaign, await need(db, campaign, "A", SAINT_DENIS_12, [ROUND1]))
    assert first is not None
    # Round one is taken; round two is still free for someone else.
    assert await match_need(db, campaign, await need(db, campaign, "B", SAINT_DENIS_12,
                                                     [ROUND1])) is None
    both = await need(db, campaign, "C", SAINT_DENIS_12, BOTH)
    assert await match_need(db, campaign, both) is None
    second = await match_need(db, campaign, await need(db, campaign, "D", SAINT_DENIS_12,
                                                       [ROUND2]))
    assert second is not None and await holder_of(db, campaign, second) == "Holder"


async def test_a_holder_whose_places_are_all_taken_is_no_offer_waiting(db, campaign,
                                                                        frozen_clock):
    await offer(db, campaign, "Holder", SAINT_DENIS_12, rounds=BOTH)
    await offer(db, campaign, "Other", LYON_3, rounds=[ROUND1])
    assert (await overview(db, campaign)).counts["open_offers"] == 2
    await match_need(db, campaign, await need(db, campaign, "A", SAINT_DENIS_12, [ROUND1]))
    view = await overview(db, campaign)
    assert view.counts["open_offers"] == 2  # round two is still free
    await match_need(db, campaign, await need(db, campaign, "B", SAINT_DENIS_12, [ROUND2]))
    view = await overview(db, campaign)
    assert view.counts["open_offers"] == 1  # only Lyon's
    saint_denis = next(row for row in view.by_place if row[0] == "93066")
    assert saint_denis[3] == 0 and saint_denis[4] == 2  # no offer there, two needs matched


async def test_a_holder_covers_only_the_rounds_they_offered(db, campaign, frozen_clock):
    await offer(db, campaign, "Round two only", SAINT_DENIS_12, rounds=[ROUND2])
    assert await match_need(db, campaign, await need(db, campaign, "A", SAINT_DENIS_12)) is None


async def test_nobody_carries_their_own_vote(db, campaign, frozen_clock):
    await offer(db, campaign, "Samir", SAINT_DENIS_12, user_id=7)
    with pytest.raises(ProxyError) as caught:  # one live request per person
        await need(db, campaign, "Samir", SAINT_DENIS_12, user_id=7)
    assert caught.value.reason == "exists"


async def test_bad_requests_are_refused_whole(db, campaign, frozen_clock):
    for rounds in ([], ["2024-06-23"], [ROUND1, "2025-01-01"]):
        with pytest.raises(ProxyError) as caught:
            await need(db, campaign, "A", SAINT_DENIS_12, rounds)
        assert caught.value.reason == "round"
    with pytest.raises(ProxyError) as caught:
        await need(db, campaign, "A", Place("93066", "93", "12 bis!"))
    assert caught.value.reason == "station"
    async with db.write() as session:  # Saint-Denis' official list is imported
        session.add(PollingStation(insee="93066", number="12", name="École Jean Vilar"))
    with pytest.raises(ProxyError) as caught:
        await need(db, campaign, "A", Place("93066", "93", "99"))
    assert caught.value.reason == "station_unknown"
    assert await need(db, campaign, "A", Place("93066", "93", "0012"))  # "0012" is 12
    await need(db, campaign, "B", Place("93001", "93", "99"))  # no list there: any number
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ProxyRequest))
                ).scalar_one() == 2


async def test_two_needs_racing_for_one_holder_only_one_gets_them(db, campaign, frozen_clock):
    await offer(db, campaign, "The only holder", SAINT_DENIS_12)
    needs = [await need(db, campaign, f"N{i}", SAINT_DENIS_12) for i in range(20)]
    results = await asyncio.gather(*(match_need(db, campaign, n) for n in needs),
                                   match_all(db, campaign), match_all(db, campaign))
    singles = [r for r in results[:20] if r is not None]
    passes = [m for r in results[20:] for m in r]
    assert len(singles) + len(passes) == 1
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ProxyMatch))
                ).scalar_one() == 1


async def test_a_full_pass_matches_needs_waiting_longest_first(db, campaign, frozen_clock):
    first = await need(db, campaign, "Waiting longest", SAINT_DENIS_12)
    frozen_clock.advance(hours=1)
    await need(db, campaign, "Later", SAINT_DENIS_12)
    await need(db, campaign, "In Lyon", LYON_3)
    await offer(db, campaign, "H1", SAINT_DENIS_7)
    await offer(db, campaign, "H2", LYON_3)
    made = await match_all(db, campaign)
    views = [await match_view(db, campaign, m) for m in made]
    assert sorted((v.need.first_name, v.offer.first_name) for v in views) == [
        ("In Lyon", "H2"), ("Waiting longest", "H1")]
    assert views[0].need.request_id == first or views[1].need.request_id == first
    assert await match_all(db, campaign) == []  # nothing left to match


async def test_a_no_ends_the_match_and_the_pair_is_never_proposed_again(db, campaign,
                                                                       frozen_clock):
    await offer(db, campaign, "H1", SAINT_DENIS_12)
    n = await need(db, campaign, "N", SAINT_DENIS_12)
    match = await match_need(db, campaign, n)
    assert (await answer(db, match, "offer", False)).status == "declined"
    assert not (await answer(db, match, "need", True)).changed  # too late: it is over
    assert await match_need(db, campaign, n) is None  # H1 said no: not asked again
    await offer(db, campaign, "H2", BOBIGNY_1)
    again = await match_need(db, campaign, n)
    assert await holder_of(db, campaign, again) == "H2"


async def test_two_yeses_then_the_holder_details_then_registered(db, campaign, frozen_clock):
    await offer(db, campaign, "H", SAINT_DENIS_12)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12))
    assert (await answer(db, match, "need", True)).status == "proposed"
    assert not (await answer(db, match, "need", True)).changed  # pressed twice
    assert (await answer(db, match, "offer", True)).status == "accepted"
    assert not (await mark_registered(db, match)).changed  # not before the details
    for number, born, reason in (("1234567", "01/02/1980", "voter_number"),
                                 ("12345678A", "01/02/1980", "voter_number"),
                                 ("12345678", "31/02/1980", "birth_date"),
                                 ("12345678", "1980-02-01", "birth_date"),
                                 ("12345678", "01/07/2006", "minor")):
        with pytest.raises(ProxyError) as caught:
            await give_holder_details(db, campaign, match, number, born)
        assert caught.value.reason == reason
    assert (await match_view(db, campaign, match)).voter_number is None  # nothing half-saved
    assert (await give_holder_details(db, campaign, match, "123 456 789", "30/06/2006")).changed
    view = await match_view(db, campaign, match)
    assert view.status == "confirmed" and view.voter_number == "123456789"
    assert view.birth_date.isoformat() == "2006-06-30"  # 18 on the day of round one
    assert (await mark_registered(db, match)).changed
    assert (await match_view(db, campaign, match)).status == "registered"


async def test_a_cancelled_holder_frees_the_need_for_another(db, campaign, frozen_clock):
    holder = await offer(db, campaign, "H1", SAINT_DENIS_12)
    n = await need(db, campaign, "N", SAINT_DENIS_12)
    match = await match_need(db, campaign, n)
    cancelled = await cancel_request(db, holder)
    assert cancelled.cancelled_match == match and cancelled.other_need == n
    assert (await match_view(db, campaign, match)).status == "cancelled"
    await offer(db, campaign, "H2", SAINT_DENIS_7)
    assert await holder_of(db, campaign, await match_need(db, campaign, n)) == "H2"


async def test_unanswered_proposals_expire_after_a_day(db, campaign, frozen_clock):
    await offer(db, campaign, "H1", SAINT_DENIS_12)
    n = await need(db, campaign, "N", SAINT_DENIS_12)
    match = await match_need(db, campaign, n)
    frozen_clock.advance(hours=23)
    assert await expire_proposals(db) == []
    frozen_clock.advance(hours=2)
    assert not (await answer(db, match, "need", True)).changed
    assert await expire_proposals(db) == [match]
    await offer(db, campaign, "H2", SAINT_DENIS_12)
    assert await holder_of(db, campaign, await match_need(db, campaign, n)) == "H2"


async def test_voter_details_are_erased_after_the_last_round(db, campaign, frozen_clock):
    frozen_clock.now = datetime(2024, 6, 20, 10, 0, tzinfo=UTC)
    await offer(db, campaign, "H", SAINT_DENIS_12)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12))
    await answer(db, match, "need", True)
    await answer(db, match, "offer", True)
    await give_holder_details(db, campaign, match, "12345678", "01/02/1980")
    frozen_clock.now = datetime(2024, 7, 7, 20, 0, tzinfo=UTC)  # the evening of round two
    assert await erase_voter_details(db, campaign) == 0
    frozen_clock.advance(hours=4)  # the next day in Paris
    assert await erase_voter_details(db, campaign) == 1
    view = await match_view(db, campaign, match)
    assert view.voter_number is None and view.birth_date is None


def test_holder_details_alone(campaign_in_sqlite):
    assert check_holder_details(campaign_in_sqlite, "12345678", "1/2/1980")[0] == "12345678"
    with pytest.raises(ProxyError):
        check_holder_details(campaign_in_sqlite, "12345678", "01/01/1850")


async def test_proposals_carry_a_deadline(db, campaign, frozen_clock):
    await offer(db, campaign, "H", SAINT_DENIS_12)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12))
    view = await match_view(db, campaign, match)
    assert view.expires_at == frozen_clock.now + timedelta(hours=24)
    assert view.rounds == BOTH


async def test_forget_erases_proxy_data_and_frees_the_other_side(db, campaign, frozen_clock):
    from storage.forget import forget_person
    from storage.users import Profile, ensure_user

    await ensure_user(db, Profile(7, "Samir"))
    await offer(db, campaign, "Samir", SAINT_DENIS_12, user_id=7)
    n = await need(db, campaign, "N", SAINT_DENIS_12)
    match = await match_need(db, campaign, n)
    await answer(db, match, "need", True)
    await forget_person(db, 7)
    async with db.read() as session:
        left = list((await session.execute(select(ProxyRequest))).scalars())
        assert [(r.first_name, r.status) for r in left] == [("N", "open")]
        assert (await session.execute(select(func.count()).select_from(ProxyMatch))
                ).scalar_one() == 0
    await offer(db, campaign, "Other", SAINT_DENIS_7)
    assert await holder_of(db, campaign, await match_need(db, campaign, n)) == "Other"

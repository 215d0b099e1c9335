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
    view = await match_view(db, match_id)
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
    views = [await match_view(db, m) for m in made]
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
    assert (await match_view(db, match)).voter_number is None  # nothing half-saved
    assert (await give_holder_details(db, campaign, match, "123 456 789", "30/06/2006")).changed
    view = await match_view(db, match)
    assert view.status == "confirmed" and view.voter_number == "123456789"
    assert view.birth_date.isoformat() == "2006-06-30"  # 18 on the day of round one
    assert (await mark_registered(db, match)).changed
    assert (await match_view(db, match)).status == "registered"


async def test_a_cancelled_holder_frees_the_need_for_another(db, campaign, frozen_clock):
    holder = await offer(db, campaign, "H1", SAINT_DENIS_12)
    n = await need(db, campaign, "N", SAINT_DENIS_12)
    match = await match_need(db, campaign, n)
    cancelled = await cancel_request(db, holder)
    assert cancelled.cancelled_match == match and cancelled.other_need == n
    assert (await match_view(db, match)).status == "cancelled"
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
    assert await erase_voter_details(db) == 0
    frozen_clock.advance(hours=4)  # the next day in Paris
    assert await erase_voter_details(db) == 1
    view = await match_view(db, match)
    assert view.voter_number is None and view.birth_date is None


def test_holder_details_alone(campaign_in_sqlite):
    assert check_holder_details(campaign_in_sqlite, "12345678", "1/2/1980")[0] == "12345678"
    with pytest.raises(ProxyError):
        check_holder_details(campaign_in_sqlite, "12345678", "01/01/1850")


async def test_proposals_carry_a_deadline(db, campaign, frozen_clock):
    await offer(db, campaign, "H", SAINT_DENIS_12)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12))
    view = await match_view(db, match)
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


# ---- each change queues its messages in its own transaction ------------------------------------

async def queued(db) -> list[tuple[str, str, int]]:
    from storage.models import Outbox

    async with db.read() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.id))).scalars()
        return [(o.key, o.kind, o.chat_id) for o in rows]


async def test_a_match_queues_both_proposals_with_it(db, campaign, frozen_clock):
    from storage.users import sync_organizers

    await sync_organizers(db, [900])
    await offer(db, campaign, "H", SAINT_DENIS_12, user_id=7)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12,
                                                      user_id=8))
    assert await queued(db) == [(f"proxy-proposal:{match}:need", "proxy_proposal", 8),
                                (f"proxy-proposal:{match}:offer", "proxy_proposal", 7)]
    await offer(db, campaign, "Off Telegram", LYON_3)
    lyon = await need(db, campaign, "M", LYON_3, user_id=9)
    [second] = await match_all(db, campaign)
    assert (await match_view(db, second)).need.request_id == lyon
    assert (await queued(db))[2:] == [
        (f"proxy-proposal:{second}:need", "proxy_proposal", 9),
        (f"proxy-followup:{second}:proposed:900", "proxy_followup", 900)]


async def test_answers_queue_what_they_imply(db, campaign, frozen_clock):
    await offer(db, campaign, "H1", SAINT_DENIS_12, user_id=7)
    n = await need(db, campaign, "N", SAINT_DENIS_12, user_id=8)
    first = await match_need(db, campaign, n)
    await offer(db, campaign, "H2", SAINT_DENIS_7, user_id=6)
    before = len(await queued(db))
    assert (await answer(db, first, "offer", False)).changed
    rows = (await queued(db))[before:]
    second = (await match_view(db, first + 1)).id  # matched again in the same transaction
    assert rows == [(f"proxy-declined:{first}:8", "proxy_declined", 8),
                    (f"proxy-declined:{first}:7", "proxy_declined", 7),
                    (f"proxy-proposal:{second}:need", "proxy_proposal", 8),
                    (f"proxy-proposal:{second}:offer", "proxy_proposal", 6)]
    await answer(db, second, "offer", True)
    await answer(db, second, "need", True)
    assert (await queued(db))[-2:] == [
        (f"proxy-details:{second}", "proxy_details_request", 6),
        (f"proxy-accepted:{second}", "proxy_accepted", 8)]
    await give_holder_details(db, campaign, second, "12345678", "01/02/1980")
    assert (await queued(db))[-2:] == [
        (f"proxy-confirmed:{second}", "proxy_confirmed", 8),
        (f"proxy-confirmed-holder:{second}", "proxy_confirmed_holder", 6)]
    await mark_registered(db, second)
    assert (await queued(db))[-1] == (f"proxy-registered:{second}", "proxy_registered", 6)


async def test_a_withdrawal_queues_the_other_sides_word_and_its_new_proposals(db, campaign,
                                                                             frozen_clock):
    from storage.users import sync_organizers

    await sync_organizers(db, [900])
    holder = await offer(db, campaign, "H1", SAINT_DENIS_12, user_id=7)
    n = await need(db, campaign, "N", SAINT_DENIS_12, user_id=8)
    first = await match_need(db, campaign, n)
    await answer(db, first, "need", True)
    await answer(db, first, "offer", True)
    await give_holder_details(db, campaign, first, "12345678", "01/02/1980")
    await offer(db, campaign, "H2", SAINT_DENIS_7, user_id=6)
    before = len(await queued(db))
    cancelled = await cancel_request(db, holder)
    [again] = cancelled.matched_again
    assert (await queued(db))[before:] == [
        (f"proxy-cancelled:{first}", "proxy_cancelled", 8),
        (f"proxy-proposal:{again}:need", "proxy_proposal", 8),
        (f"proxy-proposal:{again}:offer", "proxy_proposal", 6)]
    view = await match_view(db, first)
    assert view.voter_number is None and view.birth_date is None  # no use for them now
    # A giver off Telegram whose holder leaves: the organizers are asked to tell them.
    phone = await need(db, campaign, "Fabrice", LYON_3)
    lyon = await offer(db, campaign, "H3", LYON_3, user_id=5)
    [third] = await match_all(db, campaign)
    before = len(await queued(db))
    await cancel_request(db, lyon)
    assert (await queued(db))[before:] == [
        (f"proxy-followup:{third}:withdrawn:900", "proxy_withdrawn", 900)]
    assert (await match_view(db, third)).need.request_id == phone


async def test_a_giver_withdrawing_frees_the_holder_for_another_need_at_once(db, campaign,
                                                                             frozen_clock):
    await offer(db, campaign, "H", SAINT_DENIS_12, user_id=7)
    first_need = await need(db, campaign, "N1", SAINT_DENIS_12, user_id=8)
    first = await match_need(db, campaign, first_need)
    waiting = await need(db, campaign, "N2", SAINT_DENIS_12, user_id=9)
    assert await match_need(db, campaign, waiting) is None  # H is taken
    cancelled = await cancel_request(db, first_need)
    [again] = cancelled.matched_again
    view = await match_view(db, again)
    assert view.need.request_id == waiting and view.offer.first_name == "H"
    assert (await queued(db))[-3:] == [(f"proxy-cancelled:{first}", "proxy_cancelled", 7),
                                       (f"proxy-proposal:{again}:need", "proxy_proposal", 9),
                                       (f"proxy-proposal:{again}:offer", "proxy_proposal", 7)]


async def test_an_expiry_queues_its_word_to_both_sides(db, campaign, frozen_clock):
    await offer(db, campaign, "H", SAINT_DENIS_12, user_id=7)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12,
                                                      user_id=8))
    frozen_clock.advance(hours=25)
    assert await expire_proposals(db) == [match]
    assert (await queued(db))[-2:] == [(f"proxy-expired:{match}:8", "proxy_declined", 8),
                                       (f"proxy-expired:{match}:7", "proxy_declined", 7)]


async def test_the_number_is_kept_on_the_match_between_the_two_steps(db, campaign,
                                                                     frozen_clock):
    from storage.proxies import keep_voter_number

    await offer(db, campaign, "H", SAINT_DENIS_12)
    match = await match_need(db, campaign, await need(db, campaign, "N", SAINT_DENIS_12))
    assert not (await keep_voter_number(db, match, "12345678")).changed  # not accepted yet
    await answer(db, match, "need", True)
    await answer(db, match, "offer", True)
    with pytest.raises(ProxyError):
        await keep_voter_number(db, match, "1234")
    assert (await keep_voter_number(db, match, "1234 5678")).changed
    with pytest.raises(ProxyError) as caught:
        await give_holder_details(db, campaign, match, None, "01/07/2010")
    assert caught.value.reason == "minor"
    assert (await give_holder_details(db, campaign, match, None, "01/02/1980")).changed
    view = await match_view(db, match)
    assert view.status == "confirmed" and view.voter_number == "12345678"


async def test_details_go_the_day_after_their_own_campaigns_last_round(db, campaign,
                                                                       frozen_clock):
    from storage.campaigns import load_campaign, parse_campaign_file
    from tests.conftest import ROOT

    frozen_clock.now = datetime(2024, 6, 20, 10, 0, tzinfo=UTC)

    async def confirmed(in_campaign, place, round_date) -> int:
        await create_request(db, in_campaign, OFFER, Requester("H"), place, [round_date])
        match = await match_need(db, in_campaign, await create_request(
            db, in_campaign, NEED, Requester("N"), place, [round_date]))
        await answer(db, match, "need", True)
        await answer(db, match, "offer", True)
        await give_holder_details(db, in_campaign, match, "12345678", "01/02/1980")
        return match

    old = await confirmed(campaign, SAINT_DENIS_12, ROUND1)
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    later, _ = await load_campaign(db, {**fields, "name": "Partielle", "rounds": [
        {"name": "Tour unique", "date": "2024-09-15"}]})
    new = await confirmed(later, LYON_3, "2024-09-15")
    assert (await match_view(db, new)).round_names == ["Tour unique"]
    assert (await match_view(db, old)).round_names == ["Premier tour"]
    frozen_clock.now = datetime(2024, 7, 7, 21, 30, tzinfo=UTC)  # 23:30 on round two: kept
    assert await erase_voter_details(db) == 0
    frozen_clock.advance(hours=1)  # the next day in Paris
    assert await erase_voter_details(db) == 1
    assert (await match_view(db, old)).voter_number is None
    assert (await match_view(db, new)).voter_number == "12345678"  # its campaign goes on
    frozen_clock.now = datetime(2024, 9, 16, 8, 0, tzinfo=UTC)
    assert await erase_voter_details(db) == 1
    assert (await match_view(db, new)).voter_number is None


async def test_matching_stays_within_a_campaign(db, campaign, frozen_clock):
    from storage.campaigns import load_campaign, parse_campaign_file
    from tests.conftest import ROOT

    await offer(db, campaign, "Old holder", SAINT_DENIS_12)
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    later, _ = await load_campaign(db, {**fields, "name": "Partielle"})
    n = await create_request(db, later, NEED, Requester("N"), SAINT_DENIS_12, BOTH)
    assert await match_need(db, later, n) is None
    assert await match_all(db, later) == []
    assert (await overview(db, later)).counts["open_offers"] == 0


async def test_sqlite_looks_for_a_holder_through_each_tier_s_own_index(sqlite_db):
    """Closest first: the commune's offers, not every offer of the campaign (without
    statistics, SQLite took the campaign's index for the commune tier and read them all)."""
    from storage.driver import SQL
    from storage.proxies.matching import CANDIDATES

    values = {"insee": "93066", "station": "12", "constituency": "Seine-Saint-Denis 1",
              "department": "93", "campaign_id": 1, "mask": 3, "user_id": None, "need_id": 1,
              "capacity": 1, "count": 2, "dates": ROUND1 + ROUND2}
    # Each tier twice: the holders of exactly the need's rounds, then those of more.
    indexes = [index for index in ("ix_proxy_station", "ix_proxy_station",
                                   "ix_proxy_constituency", "ix_proxy_department")
               for _rounds in range(2)]
    async with sqlite_db.fast_read() as tx:
        for (_keys, statement), index in zip(CANDIDATES, indexes, strict=True):
            explain = SQL("EXPLAIN QUERY PLAN " + statement.sqlite, "", statement.names)
            plan = [str(row[-1]) for row in await tx.all(
                explain, **{name: values[name] for name in statement.names})]
            offers = next(step for step in plan if step.startswith("SEARCH o "))
            assert index in offers, plan


async def test_a_new_holder_is_offered_the_needs_around_them_closest_first(db, campaign,
                                                                           frozen_clock):
    """Sophie offers at Saint-Denis 12: the needs of her station come first, then her
    commune's, her constituency's and her department's, each waiting longest first; Lyon's
    is nobody's near her."""
    from storage.proxies.matching import needs_near

    names = {}
    for name, place in (("Lyon", LYON_3), ("Bobigny", BOBIGNY_1),
                        ("Aubervilliers", AUBERVILLIERS_3), ("Station 7", SAINT_DENIS_7),
                        ("Station 12", SAINT_DENIS_12), ("Station 12, later", SAINT_DENIS_12)):
        frozen_clock.advance(minutes=1)
        names[await need(db, campaign, name, place, [ROUND1])] = name
    sophie = await create_request(db, campaign, OFFER, Requester("Sophie"), SAINT_DENIS_12,
                                  [ROUND1])
    async with db.fast_read() as tx:
        near = [names[n] for n in await needs_near(tx, sophie)]
    assert near == ["Station 12", "Station 12, later", "Station 7", "Aubervilliers", "Bobigny"]


async def test_sqlite_looks_for_the_needs_around_a_holder_through_each_place_s_index(
        sqlite_db):
    """The needs around a new holder are those of their commune, constituency and
    department, each read through that place's own index: not every open need there is,
    through one index by their kind alone (60,000 open needs: 75 ms for each new offer)."""
    from storage.driver import SQL
    from storage.proxies.matching import NEEDS_NEAR

    values = {"campaign_id": 1, "insee": "93066", "station": "12", "department": "93",
              "constituency": "Seine-Saint-Denis 1"}
    explain = SQL("EXPLAIN QUERY PLAN " + NEEDS_NEAR.sqlite, "", NEEDS_NEAR.names)
    async with sqlite_db.fast_read() as tx:
        plan = [str(row[-1]) for row in await tx.all(explain, **values)]
    searches = [step for step in plan if step.startswith("SEARCH n ")]
    assert sorted(searches) == [
        "SEARCH n USING INDEX ix_proxy_constituency (kind=? AND constituency=?)",
        "SEARCH n USING INDEX ix_proxy_department (kind=? AND department=?)",
        "SEARCH n USING INDEX ix_proxy_station (kind=? AND commune_insee=?)"], plan

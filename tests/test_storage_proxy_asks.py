"""Asking the supporters near a need nobody offered for, in storage, on SQLite and
PostgreSQL: who is asked, in which order, how often, and what the organizers' evening line
counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from storage.forget import forget_person
from storage.models import Outbox, PollingStation, ProxyAsk, ProxyKind, User
from storage.outbox import NoticeKind
from storage.proxies import (
    Place,
    ProxyError,
    Requester,
    ask_nearby,
    asked_need,
    create_request,
    long_unmatched,
    match_need,
    set_voting_place,
    voting_place,
)
from storage.users import Profile, ensure_user, mark_blocked, set_stopped

SAINT_DENIS, LYON = "93066", "69383"
SAINT_DENIS_12 = Place(SAINT_DENIS, "93", "12")
ROUND1, ROUND2 = "2024-06-30", "2024-07-07"
NADIA = 7_000


@pytest.fixture
def june(frozen_clock):
    """10:00 in Paris, ten days before the first round."""
    frozen_clock.now = datetime(2024, 6, 20, 8, 0, tzinfo=UTC)
    return frozen_clock


async def supporter(db, clock, user_id: int, insee: str | None = SAINT_DENIS,
                    station: str | None = "12") -> int:
    await ensure_user(db, Profile(user_id, f"Person{user_id}"))
    if insee is not None:
        await set_voting_place(db, user_id, insee, station)
    clock.advance(seconds=1)  # who joined first is asked first, among equals
    return user_id


async def need(db, campaign, user_id: int = NADIA, name: str = "Nadia Benali",
               place: Place = SAINT_DENIS_12, rounds=(ROUND1, ROUND2)) -> int:
    await ensure_user(db, Profile(user_id, name))
    return await create_request(db, campaign, ProxyKind.NEED, Requester(name, user_id=user_id),
                                place, list(rounds))


async def asked(db) -> list[tuple[int, int]]:
    async with db.read() as session:
        rows = (await session.execute(select(ProxyAsk.need_id, ProxyAsk.user_id))).all()
    return sorted((int(n), int(u)) for n, u in rows)


async def asks_queued(db) -> list[int]:
    """Who the queued asks go to, in the order they were queued."""
    async with db.read() as session:
        rows = list((await session.execute(select(Outbox).where(
            Outbox.kind == NoticeKind.PROXY_ASK.value).order_by(Outbox.id))).scalars())
    assert all(row.quiet_hours for row in rows)  # never at night
    return [row.chat_id for row in rows]


async def test_a_day_later_ten_are_asked_the_same_station_first(db, campaign, june):
    same_station = [await supporter(db, june, 100 + i, station="12") for i in range(4)]
    same_commune = [await supporter(db, june, 200 + i, station="3") for i in range(7)]
    commune_only = await supporter(db, june, 300, station=None)  # knows no station
    await supporter(db, june, 400, insee=LYON)  # another commune: never
    nadia = await need(db, campaign)

    june.advance(hours=23)
    assert await ask_nearby(db, campaign) == 0  # not yet a day

    june.advance(hours=1)
    assert await ask_nearby(db, campaign) == 10
    # The four of station 12, then those of the commune by the time they joined.
    assert await asks_queued(db) == same_station + same_commune[:6]
    assert await asked(db) == sorted((nadia, uid) for uid in same_station + same_commune[:6])
    assert await ask_nearby(db, campaign) == 0  # ten asked: that need is done
    assert commune_only not in await asks_queued(db)


async def test_who_is_never_asked(db, campaign, june):
    stopped = await supporter(db, june, 101)
    await set_stopped(db, stopped, True)
    blocked = await supporter(db, june, 102)
    await mark_blocked(db, blocked)
    offering = await supporter(db, june, 103)
    await create_request(db, campaign, ProxyKind.OFFER, Requester("O", user_id=offering),
                         Place(LYON, "69", "1"), [ROUND1])
    needing = await supporter(db, june, 104)
    await create_request(db, campaign, ProxyKind.NEED, Requester("N", user_id=needing),
                         Place(LYON, "69", "2"), [ROUND1])
    await ensure_user(db, Profile(NADIA, "Nadia"))
    await set_voting_place(db, NADIA, SAINT_DENIS, "12")  # the need's own person
    willing = await supporter(db, june, 105)
    await need(db, campaign)

    june.advance(hours=25)
    assert await ask_nearby(db, campaign) == 1
    assert await asks_queued(db) == [willing]


async def test_once_a_week_a_person_and_never_twice_for_a_need(db, campaign, june):
    karim = await supporter(db, june, 101)
    first = await need(db, campaign, NADIA)
    second = await need(db, campaign, 7_001, "Lina")
    june.advance(hours=25)
    assert await ask_nearby(db, campaign) == 1  # Karim, for the older need only
    assert await asked(db) == [(first, karim)]

    june.advance(days=6, hours=23)
    assert await ask_nearby(db, campaign) == 0  # still within the week
    june.advance(hours=2)
    assert await ask_nearby(db, campaign) == 1  # a week on: the other need, never the first
    assert await asked(db) == [(first, karim), (second, karim)]
    june.advance(days=8)
    assert await ask_nearby(db, campaign) == 0


async def test_a_need_matched_or_past_its_rounds_is_not_asked_about(db, campaign, june):
    await supporter(db, june, 101, station="3")
    nadia = await need(db, campaign)
    holder = await supporter(db, june, 102, insee=None)
    await create_request(db, campaign, ProxyKind.OFFER, Requester("Samir", user_id=holder),
                         SAINT_DENIS_12, [ROUND1, ROUND2])
    await match_need(db, campaign, nadia)
    june.advance(hours=25)
    assert await ask_nearby(db, campaign) == 0  # proposed: in a live match

    await need(db, campaign, 7_001, "Lina", rounds=(ROUND1,))
    june.now = datetime(2024, 6, 30, 8, 0, tzinfo=UTC)  # the day of its only round
    assert await ask_nearby(db, campaign) == 0


async def test_the_need_as_the_asked_person_reads_it(db, campaign, june):
    karim = await supporter(db, june, 101)
    nadia = await need(db, campaign, name="Nadia Benali")
    assert await asked_need(db, nadia, karim) is None  # not asked: a forged button
    june.advance(hours=25)
    await ask_nearby(db, campaign)
    shown = await asked_need(db, nadia, karim)
    assert shown is not None and shown.waiting
    assert shown.first_name == "Nadia"  # never the surname
    assert (shown.station, shown.commune_insee) == ("12", SAINT_DENIS)
    assert shown.round_names() == [("Premier tour", ROUND1), ("Second tour", ROUND2)]


async def test_where_one_votes_is_checked_and_can_change(db, campaign, june):
    async with db.write() as session:
        session.add(PollingStation(insee=SAINT_DENIS, number="12", name="École Jean Vilar"))
    await ensure_user(db, Profile(101, "Karim"))
    assert await voting_place(db, 101) is None
    with pytest.raises(ProxyError) as refused:
        await set_voting_place(db, 101, SAINT_DENIS, "99")
    assert refused.value.reason == "station_unknown"
    assert await voting_place(db, 101) is None  # nothing half-saved
    assert (await set_voting_place(db, 101, SAINT_DENIS, "0012")).station == "12"
    await set_voting_place(db, 101, LYON, None)
    place = await voting_place(db, 101)
    assert (place.commune_insee, place.station) == (LYON, None)


async def test_forget_erases_the_place_and_the_asks_of_either_side(db, campaign, june):
    karim = await supporter(db, june, 101)
    lina = await supporter(db, june, 102)
    nadia = await need(db, campaign)
    june.advance(hours=25)
    assert await ask_nearby(db, campaign) == 2

    await forget_person(db, karim)
    assert await asked(db) == [(nadia, lina)]
    async with db.read() as session:
        places = (await session.execute(select(User.vote_commune_insee).where(
            User.vote_commune_insee.is_not(None)))).scalars().all()
    assert places == [SAINT_DENIS]  # Lina's only

    await forget_person(db, NADIA)  # the need goes, its asks and the ask still to go too
    assert await asked(db) == []
    assert await asks_queued(db) == []


async def test_the_evening_line_counts_needs_waiting_two_days_by_department(db, campaign,
                                                                            june):
    for i in range(3):
        await need(db, campaign, 7_100 + i, "N", Place(SAINT_DENIS, "93", str(i + 1)))
    await need(db, campaign, 7_200, "L", Place(LYON, "69", "1"))
    june.advance(hours=20)
    await need(db, campaign, 7_300, "Late", Place(SAINT_DENIS, "93", "5"))  # 28 h at the end
    matched = await need(db, campaign, 7_301, "M", Place(LYON, "69", "4"))
    await ensure_user(db, Profile(7_400, "Holder"))
    await create_request(db, campaign, ProxyKind.OFFER, Requester("H", user_id=7_400),
                         Place(LYON, "69", "4"), [ROUND1, ROUND2])
    await match_need(db, campaign, matched)

    june.advance(hours=28, minutes=1)
    assert await long_unmatched(db, campaign) == [("93", 3), ("69", 1)]
    june.advance(hours=20)
    assert await long_unmatched(db, campaign) == [("93", 4), ("69", 1)]

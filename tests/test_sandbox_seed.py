"""The sandbox's campaign: the example one, in the coming weeks, with fictional people only."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from bot.sandbox.seed import ALWAYS_OPEN, CONTACTS, ROOMS, coming_rounds, seed
from storage.campaigns import active_campaign
from storage.database import Database
from storage.driver import SQL
from storage.shifts import coming_shifts
from tests.conftest import FrozenClock

PHONES = SQL.of("SELECT phone FROM contact")
STATIONS = SQL.of("SELECT count(*) FROM polling_station")
# ARCEP's blocks reserved for fiction, in E.164: +33 then the number without its 0.
FICTION = ("+33199 00", "+33261 91", "+33353 01", "+33465 71", "+33536 49", "+33639 98")


def _in_a_fiction_block(phone: str) -> bool:
    return any(phone.startswith(block.replace(" ", "")) for block in FICTION)


async def test_the_sandbox_is_the_example_campaign_with_fictional_people(
        db: Database, frozen_clock: FrozenClock) -> None:
    campaign = await seed(db)

    assert await active_campaign(db) == campaign
    assert (campaign.calling_start, campaign.calling_end) == ALWAYS_OPEN
    today = frozen_clock.now.astimezone(ZoneInfo(campaign.timezone)).date()
    first, second = (date.fromisoformat(r["date"]) for r in campaign.rounds)
    assert today + timedelta(days=14) <= first < today + timedelta(days=21)
    assert first.weekday() == 6 and second == first + timedelta(days=7)  # Sundays

    async with db.fast_read() as tx:
        phones = [phone for (phone,) in await tx.all(PHONES)]
        (stations,) = await tx.one(STATIONS)  # type: ignore[misc]
    assert len(phones) == CONTACTS == len(set(phones))
    assert all(_in_a_fiction_block(phone) for phone in phones), phones[:5]
    # Numbers phonenumbers takes for real ones: the importer refused none of them.
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    assert stations == 12

    shifts = await coming_shifts(db)
    assert sorted(s.shift.room for s in shifts) == sorted(room for room, _ in ROOMS)
    zone = ZoneInfo(campaign.timezone)
    assert {s.shift.starts_at.astimezone(zone).date() for s in shifts} == {today + timedelta(days=1)}


def test_the_rounds_move_to_sundays_two_to_three_weeks_away() -> None:
    for offset in range(7):
        today = date(2026, 12, 1) + timedelta(days=offset)
        first = date.fromisoformat(coming_rounds(today)[0]["date"])
        assert first.weekday() == 6 and 14 <= (first - today).days < 21

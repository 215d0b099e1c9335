"""The organizers' counts on both databases: each call in the room it was made from."""

from __future__ import annotations

from datetime import timedelta

from storage.calling import QueueRules, assign_next_contact, record_outcome
from storage.contacts import import_contacts
from storage.models import Outcome
from storage.shifts import add_shift, join_shift, leave_shift
from storage.stats import organizer_stats
from tests.test_storage_calling import numbers_csv


async def call(db, rules, volunteer_id: int, outcome: Outcome = Outcome.WILL_VOTE) -> None:
    card = await assign_next_contact(db, rules, volunteer_id)
    assert card is not None
    await record_outcome(db, rules, volunteer_id, card.contact_id, card.lease_seq, outcome)


async def test_a_call_counts_in_the_room_of_the_shift_it_was_made_in(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(20))
    rules = QueueRules.of(campaign)
    start = frozen_clock.now  # 10:00 in Paris
    lyon = await add_shift(db, room="Lyon", address="5 rue Mercière", starts_at=start
                           + timedelta(hours=1), ends_at=start + timedelta(hours=3), capacity=5)
    marseille = await add_shift(db, room="Marseille", address="Cours Julien", starts_at=start
                                + timedelta(hours=3), ends_at=start + timedelta(hours=5),
                                capacity=5)
    assert await join_shift(db, lyon.id, 1) and await join_shift(db, marseille.id, 1)

    await call(db, rules, 1)  # 10:00: before the shift, from home
    frozen_clock.advance(hours=1, minutes=30)
    await call(db, rules, 1)  # 11:30: in Lyon
    await call(db, rules, 1, Outcome.NO_ANSWER)
    await call(db, rules, 2)  # someone not signed up: remote
    frozen_clock.advance(hours=2)
    await call(db, rules, 1)  # 13:30: the Marseille shift
    card = await assign_next_contact(db, rules, 1)
    await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.SKIPPED)
    await leave_shift(db, lyon.id, 1)  # leaving afterwards does not move the calls made there

    stats = await organizer_stats(db, campaign)
    assert stats.today == 5 and (stats.morning, stats.afternoon) == (4, 1)
    assert stats.by_room == {"remote": 2, "Lyon": 2, "Marseille": 1}
    assert stats.by_hour_room == {10: {"remote": 1}, 11: {"Lyon": 2, "remote": 1},
                                  13: {"Marseille": 1}}
    assert stats.by_outcome == {"will_vote": 4, "no_answer": 1}


async def test_yesterdays_calls_are_not_todays(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(5))
    rules = QueueRules.of(campaign)
    frozen_clock.advance(hours=-10)  # 00:00 in Paris: the first minute of the day
    await call(db, rules, 1)
    frozen_clock.advance(minutes=-1)  # 23:59 the day before
    await call(db, rules, 1)
    frozen_clock.advance(hours=10, minutes=1)
    stats = await organizer_stats(db, campaign)
    assert stats.today == 1 and stats.by_hour_room == {0: {"remote": 1}}


async def test_sqlite_counts_the_day_off_its_index_with_no_sort(sqlite_db):
    from storage.driver import SQL
    from storage.stats import _CALLS_BY_HOUR_ROOM

    async with sqlite_db.fast_read() as tx:
        plan = " | ".join(str(row[-1]) for row in await tx.all(
            SQL("EXPLAIN QUERY PLAN " + _CALLS_BY_HOUR_ROOM.sqlite, "",
                _CALLS_BY_HOUR_ROOM.names), campaign_id=1, day="2026-06-09 22:00:00"))
    assert "ix_call_campaign_hour" in plan and "TEMP B-TREE" not in plan, plan


async def test_todays_callers_are_ranked_ties_together_and_the_shy_left_out(db, campaign,
                                                                           frozen_clock):
    from storage.stats import callers_today
    from storage.users import Profile, ensure_user
    from storage.web import set_leaderboard_opt_out

    await import_contacts(db, campaign, numbers_csv(20))
    rules = QueueRules.of(campaign)
    for uid, name in [(1, "Amina"), (2, "Samir"), (3, "Inès"), (4, "Eve")]:
        await ensure_user(db, Profile(uid, name, language_code="fr"))
    await set_leaderboard_opt_out(db, 4, True)
    frozen_clock.advance(days=-1)
    await call(db, rules, 3)  # yesterday's call: not today's ranking
    frozen_clock.advance(days=1)
    for uid, calls in [(1, 3), (2, 3), (3, 1), (4, 5)]:
        for _ in range(calls):
            await call(db, rules, uid)
    card = await assign_next_contact(db, rules, 3)  # a skip is not a call
    await record_outcome(db, rules, 3, card.contact_id, card.lease_seq, Outcome.SKIPPED)

    samir = await callers_today(db, campaign, 2)
    assert samir.top == [(1, "Amina", 3), (1, "Samir", 3), (3, "Inès", 1)]
    assert (samir.my_rank, samir.my_calls) == (1, 3)  # a tie shares the first place
    ines = await callers_today(db, campaign, 3, size=2)
    assert ines.top == [(1, "Amina", 3), (1, "Samir", 3)]
    assert (ines.my_rank, ines.my_calls) == (3, 1)
    eve = await callers_today(db, campaign, 4)
    assert eve.my_rank is None and all(name != "Eve" for _p, name, _c in eve.top)

"""The spider's web in storage, on SQLite and PostgreSQL: who brought whom, counts, nudges."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from storage.forget import forget_person
from storage.models import Outbox, User
from storage.outbox import claim_due
from storage.users import Profile, ensure_user, get_user, set_stopped
from storage.web import (
    PledgeError,
    attribute_referral,
    invite_code,
    parse_pledge_names,
    plan_nudges,
    plan_pledge_reminders,
    progress,
    save_pledge,
    set_leaderboard_opt_out,
    web_stats,
)


async def join(db, user_id: int, name: str, code: str | None = None):
    await ensure_user(db, Profile(user_id, name))
    return await attribute_referral(db, user_id, code) if code else None


async def test_invite_codes_are_random_stable_and_link_shaped(db):
    await ensure_user(db, Profile(1, "Camille"))
    await ensure_user(db, Profile(2, "Samir"))
    code = await invite_code(db, 1)
    assert code == await invite_code(db, 1)  # the same link every time
    assert code != await invite_code(db, 2)
    assert 1 <= len(code) <= 64 and all(c.isalnum() or c in "_-" for c in code)
    assert len(code) == 16  # 96 random bits, never derived from the id


async def test_a_drawn_code_someone_holds_already_is_drawn_again(db, monkeypatch):
    import storage.web.links

    await ensure_user(db, Profile(1, "Camille"))
    await ensure_user(db, Profile(2, "Samir"))
    taken = await invite_code(db, 1)
    draws = iter([taken, "a-fresh-code-0123"])  # the one collision in 2**96
    monkeypatch.setattr(storage.web.links, "new_invite_code", lambda: next(draws))
    assert await invite_code(db, 2) == "a-fresh-code-0123"
    assert await invite_code(db, 1) == taken


async def test_first_referrer_wins_and_nonsense_changes_nothing(db):
    await join(db, 1, "Camille")
    await join(db, 2, "Samir")
    camille, samir = await invite_code(db, 1), await invite_code(db, 2)

    first = await join(db, 3, "Fabrice", camille)
    assert first is not None and first.referrer_id == 1 and first.recruits == 1
    assert await attribute_referral(db, 3, samir) is None  # already brought by Camille
    assert await attribute_referral(db, 1, camille) is None  # one's own link
    assert await attribute_referral(db, 2, "no-such-code") is None
    for payload in ("", "a" * 65, "bad code", "é" * 10, camille + "!"):
        assert await attribute_referral(db, 2, payload) is None
    # A recruiter cannot be "brought" afterwards by their own recruit.
    fabrice = await invite_code(db, 3)
    assert await attribute_referral(db, 1, fabrice) is None

    users = {u.id: u for u in [await get_user(db, i) for i in (1, 2, 3)] if u}
    assert users[1].recruits == 1 and users[2].recruits == 0
    assert users[3].referred_by == 1 and users[3].generation == 1
    assert users[1].referred_by is None and users[2].referred_by is None


async def test_many_people_joining_through_one_link_at_once_count_exactly(db):
    await join(db, 1, "Camille")
    code = await invite_code(db, 1)
    newcomers = range(1000, 1200)
    await asyncio.gather(*(ensure_user(db, Profile(i, f"N{i}")) for i in newcomers))
    # Each newcomer's link is pressed twice at once (a double tap): it counts once.
    results = await asyncio.gather(*(attribute_referral(db, i, code)
                                     for i in [*newcomers, *newcomers]))
    counted = [r for r in results if r is not None]
    assert len(counted) == 200
    assert sorted(r.recruits for r in counted) == list(range(1, 201))  # each count once
    assert (await get_user(db, 1)).recruits == 200
    assert (await progress(db, 1)).count == 200


async def build_small_web(db, frozen_clock):
    """Camille brings Fabrice, Élodie, Nicolas (day 1); Fabrice brings Zoé (day 2),
    Zoé brings Hugo (day 2, 23:30 Paris time: still day 2 there, day 3 in UTC)."""
    frozen_clock.now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    await join(db, 1, "Camille")
    await join(db, 9, "Lone")
    code = await invite_code(db, 1)
    for uid, name in ((2, "Fabrice"), (3, "Élodie"), (4, "Nicolas")):
        await join(db, uid, name, code)
    frozen_clock.now = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    await join(db, 5, "Zoé", await invite_code(db, 2))
    frozen_clock.now = datetime(2026, 6, 2, 21, 30, tzinfo=UTC)  # 23:30 in Paris
    await join(db, 6, "Hugo", await invite_code(db, 5))


async def test_web_stats_count_generations_days_and_leaders(db, campaign, frozen_clock):
    await build_small_web(db, frozen_clock)
    assert await set_leaderboard_opt_out(db, 2, True)
    assert not await set_leaderboard_opt_out(db, 2, True)  # a double tap: nothing to change
    stats = await web_stats(db, campaign)
    assert stats.supporters == 7
    assert stats.today == 2  # Zoé and Hugo, on 2 June in Paris
    assert stats.recruited == 5
    assert stats.reached_goal == 1  # Camille
    assert stats.depth == 3  # Camille -> Fabrice -> Zoé -> Hugo
    assert stats.branching == pytest.approx(5 / 7)
    assert stats.by_day_generation == {date(2026, 6, 1): {0: 2, 1: 3},
                                       date(2026, 6, 2): {2: 1, 3: 1}}
    assert stats.top == [("Camille", 3), ("Zoé", 1)]  # Fabrice opted out


async def test_forget_keeps_the_web_whole_and_the_person_out(db, campaign, frozen_clock):
    await build_small_web(db, frozen_clock)
    await save_pledge(db, 2, ["A", "B", "C"])
    await forget_person(db, 2)  # Fabrice, brought by Camille, brought Zoé
    assert await get_user(db, 2) is None
    stats = await web_stats(db, campaign)
    assert (stats.supporters, stats.recruited, stats.depth) == (7, 5, 3)
    # Fabrice came first and still does, as someone erased.
    assert (await progress(db, 1)).recruits == ["", "Élodie", "Nicolas"]
    zoe = await get_user(db, 5)
    async with db.read() as session:
        node = await session.get(User, zoe.referred_by)
    assert node.forgotten and node.first_name == "" and node.id < 0 and node.recruits == 1
    assert node.referred_by == 1 and node.generation == 1
    assert "Fabrice" not in [name for name, _ in stats.top]


def test_pledge_names_are_three_first_names():
    assert parse_pledge_names("Fabrice, Élodie et Nicolas") == ["Fabrice", "Élodie", "Nicolas"]
    assert parse_pledge_names("Fabrice\nÉlodie\n  Jean  Marc ") == ["Fabrice", "Élodie", "Jean Marc"]
    assert parse_pledge_names("Ann and Bob & Cy") == ["Ann", "Bob", "Cy"]
    for text, reason in (("Fabrice, Élodie", "count"), ("A, B, C, D", "count"), ("", "count"),
                         ("A, B, " + "x" * 41, "long"), ("A, B, 0612345678", "digits")):
        with pytest.raises(PledgeError) as caught:
            parse_pledge_names(text)
        assert caught.value.reason == reason


@pytest.mark.parametrize("number", [
    "⁰⁶¹²³⁴⁵⁶⁷⁸",  # superscripts
    "٠٦١٢٣٤٥٦٧٨",  # Arabic-Indic
    "۰۶۱۲۳۴۵۶۷۸",  # extended Arabic-Indic (Persian, Urdu)
    "０６１２３４５６７８",  # fullwidth
    "०६१२३४५६७८",  # Devanagari
    "₀₆₁₂₃₄₅₆₇₈",  # subscripts
    "⓪⑥①②③④⑤⑥⑦⑧",  # circled
    "𝟎𝟔𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖",  # mathematical bold, outside the BMP
    "Léa ⁶",  # a single one, in a name
])
def test_a_pledge_refuses_every_digit_so_no_phone_number_gets_in(number):
    with pytest.raises(PledgeError) as caught:
        parse_pledge_names(f"Fabrice, Élodie, {number}")
    assert caught.value.reason == "digits"


def test_a_pledge_takes_names_of_every_script():
    names = ["Ἀθηνᾶ", "محمد", "一郎"]  # 一 is a numeral, but a letter of a name: not a digit
    assert parse_pledge_names(", ".join(names)) == names


async def outbox_rows(db, kind: str) -> list[Outbox]:
    async with db.read() as session:
        return list((await session.execute(
            select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id))).scalars())


async def test_nudges_come_after_one_three_seven_days_once_a_day_and_stop(db, campaign,
                                                                          frozen_clock):
    joined = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Paris
    frozen_clock.now = joined
    await join(db, 1, "Camille")
    await join(db, 2, "Samir")
    await join(db, 3, "Lina")
    code = await invite_code(db, 3)
    for uid in (10, 11, 12):  # Lina brings three: no nudges for her
        await join(db, uid, f"R{uid}", code)

    async def plan_at(day: int, hour: int = 10) -> list[str]:
        frozen_clock.now = joined + timedelta(days=day, hours=hour - 10)
        await plan_nudges(db, campaign)
        return [row.key for row in await outbox_rows(db, "nudge")]

    assert await plan_at(0, 20) == []  # the first day: nothing yet
    first = await plan_at(1)
    assert {"nudge:1:1", "nudge:2:1"} <= set(first) and not any(":3:" in k for k in first)
    assert await plan_at(1, 15) == first  # the same day again: nothing more
    assert await plan_at(2) == first  # the second nudge waits for day 3
    await set_stopped(db, 2, True)  # Samir sent /stop
    third_day = await plan_at(3)
    assert "nudge:1:2" in third_day and "nudge:2:2" not in third_day
    week = await plan_at(7)
    assert "nudge:1:3" in week
    assert await plan_at(30) == week  # three nudges at most
    assert (await get_user(db, 1)).nudges_sent == 3


async def test_a_second_planner_at_the_same_moment_queues_nothing_twice(db, campaign,
                                                                        frozen_clock):
    frozen_clock.now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    for uid in range(1, 41):
        await join(db, uid, f"P{uid}")
    frozen_clock.advance(days=1)
    await asyncio.gather(plan_nudges(db, campaign), plan_nudges(db, campaign))
    keys = [row.key for row in await outbox_rows(db, "nudge")]
    assert sorted(keys) == sorted(f"nudge:{uid}:1" for uid in range(1, 41))


async def test_pledge_reminders_are_queued_two_days_before_each_round_once(db, campaign,
                                                                           frozen_clock):
    """The eve is in the electoral silence: the reminder goes the day before it."""
    await join(db, 1, "Camille")
    await save_pledge(db, 1, ["Fabrice", "Élodie", "Nicolas"])
    frozen_clock.now = datetime(2024, 6, 27, 10, 0, tzinfo=UTC)  # three days before
    await plan_pledge_reminders(db, campaign)
    assert await outbox_rows(db, "pledge_reminder") == []
    frozen_clock.now = datetime(2024, 6, 28, 10, 0, tzinfo=UTC)  # Friday, two days before
    await plan_pledge_reminders(db, campaign)
    await plan_pledge_reminders(db, campaign)
    frozen_clock.now = datetime(2024, 6, 29, 10, 0, tzinfo=UTC)  # the eve: silence
    await plan_pledge_reminders(db, campaign)
    rows = await outbox_rows(db, "pledge_reminder")
    assert [(r.key, r.params) for r in rows] == [
        ("pledge:1:2024-06-30", {"round": "2024-06-30", "name": "Premier tour"})]


async def test_two_deliverers_never_claim_the_same_row(db, campaign, frozen_clock):
    frozen_clock.now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    for uid in range(1, 61):
        await join(db, uid, f"P{uid}")
    frozen_clock.advance(days=1)
    await plan_nudges(db, campaign)
    batches = await asyncio.gather(*(claim_due(db, 7, messaging_open=True) for _ in range(12)))
    claimed = [d.id for batch in batches for d in batch]
    assert len(claimed) == 60 and len(set(claimed)) == 60
    assert await claim_due(db, 10, messaging_open=True) == []


async def test_nudges_wait_while_messaging_hours_are_closed(db, campaign, frozen_clock):
    frozen_clock.now = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    await join(db, 1, "Camille")
    frozen_clock.advance(days=1)
    await plan_nudges(db, campaign)
    assert await claim_due(db, 10, messaging_open=False) == []
    [delivery] = await claim_due(db, 10, messaging_open=True)
    assert delivery.key == "nudge:1:1" and delivery.quiet_hours and delivery.attempts == 1

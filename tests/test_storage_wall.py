"""The wall in storage, on SQLite and PostgreSQL: its token, and the day's figures that name
nobody but the first names of callers who stayed in the rankings."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from storage.audit import audit_entries
from storage.calling import QueueRules, assign_next_contact, record_outcome
from storage.campaigns import CampaignFileError, load_campaign, parse_campaign_file
from storage.contacts import import_contacts
from storage.models import Call, Outcome, ProxyKind
from storage.proxies import Requester, answer, create_request, match_need
from storage.shifts import add_shift, join_shift
from storage.users import Profile, ensure_user
from storage.wall.figures import shown_name, wall_figures, wall_rooms
from storage.wall.tokens import closes_at, open_wall, revoke_wall, wall_token
from storage.web import set_leaderboard_opt_out
from tests.conftest import ROOT
from tests.test_storage_calling import numbers_csv
from tests.test_storage_proxies import SAINT_DENIS_12

ROUNDS = [{"name": "Premier tour", "date": "2026-06-14"},
          {"name": "Second tour", "date": "2026-06-21"}]


async def load_with_rounds(db, rounds=ROUNDS, **changes):
    """The example campaign, its rounds in the days after the tests' clock (10 June 2026)."""
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    fields.update(rounds=rounds, **changes)
    campaign, _ = await load_campaign(db, fields)
    return campaign


@pytest.fixture
async def live(db, frozen_clock):
    return await load_with_rounds(db)


async def call(db, rules, volunteer_id, outcome=Outcome.WILL_VOTE):
    card = await assign_next_contact(db, rules, volunteer_id)
    assert card is not None
    await record_outcome(db, rules, volunteer_id, card.contact_id, card.lease_seq, outcome)


async def test_a_token_is_made_once_and_a_revoke_closes_the_old_one(db, live, frozen_clock):
    token = await wall_token(db, live, actor_id=900)
    assert len(token) >= 43 and token == await wall_token(db, live, actor_id=900)
    assert (await open_wall(db, token)).id == live.id
    assert await open_wall(db, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert await open_wall(db, "") is None and await open_wall(db, "é" * 80) is None
    new = await revoke_wall(db, live, actor_id=900)
    assert new != token and await open_wall(db, token) is None
    assert (await open_wall(db, new)).id == live.id
    audit = [(e.actor_id, e.action, e.detail) for e in await audit_entries(db)]
    assert (900, "wall.create", f"campaign={live.id}") in audit
    assert (900, "wall.revoke", f"campaign={live.id}") in audit
    assert not any(token in e.detail or new in e.detail for e in await audit_entries(db))


async def test_the_links_stop_after_the_campaigns_last_round(db, live, frozen_clock):
    token = await wall_token(db, live, actor_id=900)
    # 21 June is the last round: its whole day, in Paris, and not a minute more.
    assert closes_at(live).isoformat() == "2026-06-21T22:00:00+00:00"
    frozen_clock.now = closes_at(live) - timedelta(minutes=1)
    assert await open_wall(db, token) is not None
    frozen_clock.now = closes_at(live)
    assert await open_wall(db, token) is None
    without_rounds = await load_with_rounds(db, rounds=[])
    assert closes_at(without_rounds) is None and await open_wall(db, token) is not None


async def test_the_days_figures_by_half_day_room_and_hour_against_the_goals(db, live,
                                                                           frozen_clock):
    await import_contacts(db, live, numbers_csv(40))
    rules = QueueRules.of(live)
    start = frozen_clock.now  # 10:00 in Paris
    lyon = await add_shift(db, room="Lyon", address="5 rue Mercière",
                           starts_at=start + timedelta(minutes=1),
                           ends_at=start + timedelta(hours=5), capacity=5)
    await add_shift(db, room="Bordeaux", address="Quai", starts_at=start + timedelta(days=2),
                    ends_at=start + timedelta(days=2, hours=2), capacity=5)
    assert await join_shift(db, lyon.id, 1)
    frozen_clock.advance(minutes=1)
    await call(db, rules, 1)  # 10:01 in Lyon
    await call(db, rules, 2, Outcome.NO_ANSWER)  # remote
    frozen_clock.advance(hours=3, minutes=30)
    await call(db, rules, 1, Outcome.WANTS_TO_VOLUNTEER)  # 13:30, the afternoon, in Lyon
    card = await assign_next_contact(db, rules, 1)
    await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.SKIPPED)

    wall = await wall_figures(db, live)
    assert (wall.today, wall.morning, wall.afternoon, wall.goal) == (3, 2, 1, 2000)
    rooms = {r.name: r for r in wall.rooms}
    assert [r.name for r in wall.rooms] == ["Saint-Denis", "Lyon", "Marseille", "remote"]
    assert (rooms["Lyon"].today, rooms["Lyon"].morning, rooms["Lyon"].afternoon,
            rooms["Lyon"].goal) == (2, 1, 1, 600)
    assert (rooms["remote"].today, rooms["remote"].goal) == (1, 0)
    assert rooms["Saint-Denis"].today == 0  # a goal and no call yet: shown at 0
    assert wall.hours == {"10": {"Lyon": 1, "remote": 1}, "13": {"Lyon": 1}}
    assert (wall.first_hour, wall.last_hour) == (9, 21)
    assert wall.said_yes == 2  # will vote, wants to volunteer; not the unanswered one
    assert (wall.day, wall.updated) == ("2026-06-10", "13:31")
    # A room alone may be asked for: those with a goal, or a shift from today on.
    assert await wall_rooms(db, live) == ["Saint-Denis", "Lyon", "Marseille", "Bordeaux"]


async def test_the_top_callers_by_first_name_only_and_the_shy_left_out(db, live, frozen_clock):
    await import_contacts(db, live, numbers_csv(40))
    rules = QueueRules.of(live)
    people = [(1, "Amina", "Benali", "amina_b"), (2, "Jean Dupont", None, None),
              (3, "0612345678", None, None), (4, "Eve", "Martin", "eve"),
              (5, "@samir", None, None)]
    for uid, first, last, username in people:
        await ensure_user(db, Profile(uid, first, last, username, "fr"))
    await set_leaderboard_opt_out(db, 4, True)
    for uid, calls in [(1, 3), (2, 2), (3, 1), (4, 5), (5, 1)]:
        for _ in range(calls):
            await call(db, rules, uid)

    wall = await wall_figures(db, live)
    assert [(c.place, c.name, c.calls) for c in wall.top] == [
        (1, "Amina", 3), (2, "Jean", 2), (3, "", 1), (3, "", 1)]
    shown = json.dumps(wall.as_json(), ensure_ascii=False)
    for secret in ("Benali", "amina_b", "Dupont", "Eve", "Martin", "samir", "0612345678",
                   "+33", "Personne"):  # nor a contact's name or number
        assert secret not in shown, secret
    assert [shown_name(n) for n in ("Marie-Claire", "  Inès  Lopez", "", "R2D2")] == [
        "Marie-Claire", "Inès", "", ""]


async def test_milestones_every_500_calls_today_and_every_50_proxies(db, live, frozen_clock):
    await import_contacts(db, live, numbers_csv(1))
    async with db.write() as session:
        contact = (await session.execute(text("SELECT id FROM contact"))).scalar_one()
        session.add_all([Call(contact_id=contact, campaign_id=live.id, volunteer_id=1,
                              lease_seq=i, outcome=Outcome.WILL_VOTE,
                              created_at=frozen_clock.now) for i in range(1, 500)])
    wall = await wall_figures(db, live)
    assert (wall.today, wall.calls_milestone) == (499, 0)
    async with db.write() as session:
        session.add(Call(contact_id=contact, campaign_id=live.id, volunteer_id=1,
                         lease_seq=500, outcome=Outcome.WILL_VOTE, created_at=frozen_clock.now))
    assert (await wall_figures(db, live)).calls_milestone == 500

    dates = [r["date"] for r in ROUNDS]
    for i in range(50):
        await create_request(db, live, ProxyKind.OFFER, Requester(f"H{i}"), SAINT_DENIS_12,
                             dates)
        match = await match_need(db, live, await create_request(
            db, live, ProxyKind.NEED, Requester(f"N{i}"), SAINT_DENIS_12, dates))
        await answer(db, match, "need", True)
        await answer(db, match, "offer", True)
        if i == 0:
            frozen_clock.advance(days=1)  # the first was matched yesterday
            assert (await wall_figures(db, live)).proxies_today == 0
    wall = await wall_figures(db, live)
    assert (wall.proxies_today, wall.proxies_total, wall.proxies_milestone) == (49, 50, 50)
    assert wall.today == 0  # a new day


async def test_the_campaign_file_gives_the_goals_and_refuses_bad_ones(tmp_path):
    example = (ROOT / "examples" / "campaign.toml").read_text(encoding="utf-8")
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    assert fields["daily_goal"] == 2000
    assert fields["room_goals"] == {"Saint-Denis": 800, "Lyon": 600, "Marseille": 600}
    start, end = example.index("[wall]"), example.index("[script]")
    path = tmp_path / "c.toml"
    path.write_text(example[:start] + example[end:], encoding="utf-8")
    assert (parse_campaign_file(path)["daily_goal"], parse_campaign_file(path)["room_goals"]) == (0, {})
    for wall, error in (("daily_goal = -3", "wall.daily_goal must be a whole number"),
                        ('daily_goal = "lots"', "wall.daily_goal must be a whole number"),
                        ("daily_goal = 2.5", "wall.daily_goal"),
                        ("goal = 100", "[wall] knows daily_goal"),
                        ('rooms = "Lyon"', "[wall.rooms] must be a table"),
                        ('[wall.rooms]\nLyon = true', "wall.rooms.Lyon"),
                        ('[wall.rooms]\n"  " = 10', "a room's name")):
        path.write_text(example[:start] + "[wall]\n" + wall + "\n\n" + example[end:],
                        encoding="utf-8")
        with pytest.raises(CampaignFileError, match=error.replace("[", r"\[")):
            parse_campaign_file(path)


async def test_a_campaign_loaded_again_without_goals_has_none(db, frozen_clock):
    await load_with_rounds(db)
    again = await load_with_rounds(db, daily_goal=0, room_goals={})
    assert (again.daily_goal, again.room_goals) == (0, {})


async def test_another_campaign_loaded_closes_the_old_ones_wall(db, live, frozen_clock):
    # Calls go to the active campaign only: the old one's screen would show 0 all day.
    old = await wall_token(db, live, actor_id=900)
    other = await load_with_rounds(db, name="Législatives partielles")
    assert await open_wall(db, old) is None
    new = await wall_token(db, other, actor_id=900)
    assert new != old and (await open_wall(db, new)).id == other.id
    again = await load_with_rounds(db)  # the first one active again: its link with it
    assert again.id == live.id and (await open_wall(db, old)).id == live.id
    assert await open_wall(db, new) is None


async def test_a_reading_of_the_top_callers_no_longer_holds_once_someone_it_names_leaves(
        db, live, frozen_clock):
    from storage.forget import forget_person
    from storage.wall.figures import top_callers, top_still_holds

    await import_contacts(db, live, numbers_csv(20))
    rules = QueueRules.of(live)
    for uid, first in ((1, "Amina"), (2, "Jean"), (3, "Eve")):
        await ensure_user(db, Profile(uid, first, None, None, "fr"))
        await call(db, rules, uid)
    top = await top_callers(db, live)
    assert [c.name for c in top.callers] == ["Amina", "Jean", "Eve"]
    assert await top_still_holds(db, live, top)
    await call(db, rules, 2)  # more calls: the reading may wait for its time
    assert await top_still_holds(db, live, top)
    await set_leaderboard_opt_out(db, 3, True)
    assert not await top_still_holds(db, live, top)
    top = await top_callers(db, live)
    await forget_person(db, 1)
    assert not await top_still_holds(db, live, top)
    top = await top_callers(db, live)
    assert [c.name for c in top.callers] == ["Jean"] and await top_still_holds(db, live, top)
    frozen_clock.advance(days=1)  # midnight: yesterday's callers are not today's
    assert not await top_still_holds(db, live, top)

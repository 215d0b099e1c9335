"""Calling hours in the contact's own time: an overseas or foreign number is handed out only
while the campaign's calling hours are open where that person lives."""

from __future__ import annotations

import asyncio
import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, make_url, text

from storage.calling import QueueRules, assign_next_contact, record_outcome
from storage.campaigns import campaign_by_name, parse_campaign_file
from storage.contacts import import_contacts
from storage.database import Database
from storage.migrate import upgrade
from storage.models import EPOCH, Outcome
from storage.stats import organizer_stats
from tests.conftest import POSTGRES_URL, ROOT, _recreate_database

# One metropolitan number, one in Guadeloupe (UTC-4), one in Réunion (UTC+4), both known by
# their numbers, and a metropolitan mobile living in Guyane (UTC-3) by its postal code.
CSV = (
    "telephone,prenom,circonscription,code_postal\n"
    "+590690301122,Gwada,Seine-Saint-Denis 1,\n"
    "+262692301122,Run,Seine-Saint-Denis 1,\n"
    "+33611223344,Cayenne,Seine-Saint-Denis 1,97300\n"
    "0612345678,Paris,Rhône 3,75011\n"
)


async def _import(db, campaign) -> None:
    await import_contacts(db, campaign, io.BytesIO(CSV.encode()))


async def _names_handed_out(db, campaign, first_volunteer: int = 1) -> list[str]:
    """What five volunteers who hold no card yet get, one each."""
    rules = QueueRules.of(campaign)
    names = []
    for volunteer in range(first_volunteer, first_volunteer + 5):
        card = await assign_next_contact(db, rules, volunteer)
        if card is not None:
            names.append(card.first_name)
    return names


async def test_winter_morning_in_paris_hands_out_no_antilles_number(db, campaign, frozen_clock):
    await _import(db, campaign)
    frozen_clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 Paris, 04:00 Guadeloupe
    # Réunion is at 12:00, Guyane at 05:00: the Paris and Réunion ones only.
    assert sorted(await _names_handed_out(db, campaign)) == ["Paris", "Run"]


async def test_winter_evening_in_paris_hands_out_no_reunion_number(db, campaign, frozen_clock):
    await _import(db, campaign)
    frozen_clock.now = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)  # 20:00 Paris, 23:00 Réunion
    assert sorted(await _names_handed_out(db, campaign)) == ["Cayenne", "Gwada", "Paris"]


async def test_summer_shifts_paris_but_not_overseas(db, campaign, frozen_clock):
    await _import(db, campaign)
    # 09:00 in Paris in summer is 07:00 UTC: 03:00 in Guadeloupe, 04:00 in Guyane, 11:00 in
    # Réunion; at 15:00 Paris (13:00 UTC), Guadeloupe (09:00) and Guyane (10:00) are open too
    # (the first cards' leases ran out meanwhile).
    frozen_clock.now = datetime(2026, 6, 10, 7, 0, tzinfo=UTC)
    assert sorted(await _names_handed_out(db, campaign)) == ["Paris", "Run"]
    frozen_clock.now = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)
    assert sorted(await _names_handed_out(db, campaign, 11)) == ["Cayenne", "Gwada", "Paris",
                                                                 "Run"]


async def test_the_first_minute_opens_and_the_last_one_closes(db, campaign, frozen_clock):
    await _import(db, campaign)
    frozen_clock.now = datetime(2026, 12, 1, 12, 59, tzinfo=UTC)  # 08:59 Guadeloupe
    assert "Gwada" not in await _names_handed_out(db, campaign)
    frozen_clock.now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 09:00 Guadeloupe
    assert "Gwada" in await _names_handed_out(db, campaign, 11)


async def test_cards_come_in_queue_order_across_zones(db, campaign, frozen_clock):
    await import_contacts(db, campaign, io.BytesIO((
        "telephone,prenom,circonscription\n"
        "+33611000001,Untargeted,Paris 5\n"
        "+262692301122,Run,Rhône 3\n"
        "+33611000002,Target,Seine-Saint-Denis 1\n"
        "+262692301123,Run later,Paris 5\n").encode()))
    frozen_clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 Paris, 12:00 Réunion
    rules = QueueRules.of(campaign)
    names = []
    while (card := await assign_next_contact(db, rules, 1)) is not None:
        names.append(card.first_name)
        await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.WILL_VOTE)
    # Targets first (in the campaign's order), then the others in import order, whatever
    # their zone.
    assert names == ["Target", "Run", "Untargeted", "Run later"]


async def test_the_claim_seeks_each_open_zone_on_the_queue_index(sqlite_db):
    """Contacts whose local hours are closed gather at the head of the queue as the day's
    calls take those around them: the claim seeks each open zone's first contact on the
    index instead of walking the queue in order past every closed one, at every claim."""
    from storage.calling.queue import CLAIM
    from storage.driver import SQL

    async with sqlite_db.fast_read() as tx:
        plan = " | ".join(str(row[-1]) for row in await tx.all(
            SQL("EXPLAIN QUERY PLAN " + CLAIM.sqlite, "", CLAIM.names), volunteer_id=1,
            expires_at="2026-12-01 08:15:00.000000", open_zones='["", "Indian/Reunion"]',
            campaign_id=1, now="2026-12-01 08:00:00.000000"))
    assert "USING INDEX ix_contact_queue (campaign_id=? AND zone=?)" in plan, plan


async def test_stats_tell_how_many_wait_for_their_local_hours(db, campaign, frozen_clock):
    await _import(db, campaign)
    frozen_clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    stats = await organizer_stats(db, campaign)
    assert stats.queue_left == 4 and stats.waiting_local_hours == 2
    # A no-answer waits for its retry time: still left, not waiting for its local hours.
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 1)
    await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.NO_ANSWER)
    stats = await organizer_stats(db, campaign)
    assert stats.queue_left == 4 and stats.waiting_local_hours == 2


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    url = make_url(POSTGRES_URL)
    url = url.set(database=f"{url.database}_zones").render_as_string(hide_password=False)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _recreate_database(url)).result()
    return url


async def _in_thread(function, *args) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        await asyncio.wrap_future(pool.submit(function, *args))


async def test_contacts_imported_before_zones_get_theirs(empty_database_url, frozen_clock):
    await _in_thread(upgrade, empty_database_url, "0016")
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    db = Database(empty_database_url)
    try:
        async with db.engine.begin() as connection:
            known = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("campaign")})
            row = {k: json.dumps(v) if isinstance(v, list | dict) else v
                   for k, v in fields.items() if k in known}
            row.update(active=True, created_at=EPOCH)
            await connection.execute(text(
                f"INSERT INTO campaign ({', '.join(row)}) VALUES "
                f"({', '.join(':' + k for k in row)})"), row)
            await connection.execute(text(
                "INSERT INTO contact (campaign_id, phone, first_name, postal_code, priority, "
                "status, attempts, due_at, lease_seq, waiting) VALUES "
                "(1, '+590690301122', 'Gwada', NULL, 0, 'open', 0, :epoch, 0, FALSE), "
                "(1, '+33611223344', 'Cayenne', '97300', 0, 'open', 0, :epoch, 0, FALSE), "
                "(1, '+33612345678', 'Paris', '75011', 1, 'open', 0, :epoch, 0, FALSE), "
                "(1, '+12025550143', 'Washington', NULL, 2, 'open', 0, :epoch, 0, FALSE), "
                "(1, '+15145550123', 'Montreal', NULL, 2, 'open', 0, :epoch, 0, FALSE)"),
                {"epoch": EPOCH})
    finally:
        await db.dispose()
    await _in_thread(upgrade, empty_database_url)

    db = Database(empty_database_url)
    try:
        async with db.engine.connect() as connection:
            zones = (await connection.execute(text(
                "SELECT first_name, zone FROM contact ORDER BY id"))).all()
        assert [tuple(z) for z in zones] == [
            ("Gwada", "America/Guadeloupe"), ("Cayenne", "America/Cayenne"), ("Paris", ""),
            ("Washington", "America/New_York"), ("Montreal", "America/Toronto")]
        campaign = await campaign_by_name(db, fields["name"])
        frozen_clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 Paris, 03:00 DC
        assert await _names_handed_out(db, campaign) == ["Paris"]
        assert (await organizer_stats(db, campaign)).waiting_local_hours == 4
    finally:
        await db.dispose()


async def test_a_zone_imported_within_the_minute_is_handed_out(db, campaign, frozen_clock):
    frozen_clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 12:00 in Réunion
    assert await _names_handed_out(db, campaign) == []  # the zones of the queue: none yet
    await import_contacts(db, campaign, io.BytesIO(
        b"telephone,prenom\n+262692301122,Run\n"))
    assert await _names_handed_out(db, campaign, 11) == ["Run"]

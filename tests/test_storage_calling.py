"""The queue on both databases: one contact, one volunteer; outcomes recorded once."""

from __future__ import annotations

import asyncio
import io
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from storage.calling import QueueRules, Recorded, assign_next_contact, expire_leases, record_outcome
from storage.contacts import import_contacts
from storage.database import Database
from storage.models import (
    Call,
    Campaign,
    Contact,
    ContactStatus,
    DoNotCall,
    Outcome,
    VolunteerStatus,
)
from storage.users import Profile, decide_volunteer, ensure_user, get_user
from tests.conftest import ROOT


async def import_example(db: Database, campaign: Campaign) -> None:
    with (ROOT / "examples" / "contacts.csv").open("rb") as f:
        await import_contacts(db, campaign, f, source_label="Primaire populaire 2022")


def numbers_csv(count: int, constituency: str = "Seine-Saint-Denis 1") -> io.BytesIO:
    lines = ["telephone,prenom,circonscription"]
    lines += [f"06{i:08d},Personne{i},{constituency}" for i in range(10_000_000, 10_000_000 + count)]
    return io.BytesIO("\n".join(lines).encode())


async def test_one_contact_at_a_time_and_asking_again_returns_it(db, campaign, frozen_clock):
    await import_example(db, campaign)
    rules = QueueRules.of(campaign)
    first = await assign_next_contact(db, rules, 1)
    again = await assign_next_contact(db, rules, 1)
    assert first is not None and again is not None
    assert again.contact_id == first.contact_id and again.already_held
    other = await assign_next_contact(db, rules, 2)
    assert other is not None and other.contact_id != first.contact_id


async def test_targets_come_first_in_their_order(db, campaign, frozen_clock):
    await import_example(db, campaign)
    rules = QueueRules.of(campaign)
    order = []
    for volunteer in range(1, 5):
        card = await assign_next_contact(db, rules, volunteer)
        order.append(card.constituency)
    assert order == ["Seine-Saint-Denis 1", "Rhône 3", "Bouches-du-Rhône 4", "Seine-Saint-Denis 6"]


async def test_no_answer_comes_back_after_the_delay_at_most_three_times(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(1))
    rules = QueueRules.of(campaign)
    for attempt in range(3):
        card = await assign_next_contact(db, rules, 7)
        assert card is not None, f"attempt {attempt + 1} should get the contact back"
        result = await record_outcome(db, rules, 7, card.contact_id, card.lease_seq, Outcome.NO_ANSWER)
        assert result.status is Recorded.RECORDED
        assert await assign_next_contact(db, rules, 7) is None  # not due yet
        frozen_clock.advance(hours=2, minutes=1)
    assert await assign_next_contact(db, rules, 7) is None  # three attempts: done
    async with db.read() as s:
        contact = (await s.execute(select(Contact))).scalar_one()
    assert contact.status == ContactStatus.DONE and contact.attempts == 3


async def test_among_equal_targets_fewest_attempts_then_import_order(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(3))  # Personne0, 1, 2 in that order
    rules = QueueRules.of(campaign)
    first = await assign_next_contact(db, rules, 1)
    assert first.first_name == "Personne10000000"
    await record_outcome(db, rules, 1, first.contact_id, first.lease_seq, Outcome.NO_ANSWER)
    frozen_clock.advance(hours=2, minutes=1)  # due again, but tried once already
    order = []
    for volunteer in (2, 3, 4):
        card = await assign_next_contact(db, rules, volunteer)
        order.append((card.first_name, card.attempts))
    assert order == [("Personne10000001", 0), ("Personne10000002", 0), ("Personne10000000", 1)]


async def test_more_unanswered_numbers_due_than_one_wake_up_batch_all_come_back(
        db, campaign, frozen_clock):
    from storage.calling import WAKE_DUE

    count = 520  # one more batch than WAKE_DUE wakes at once
    assert "LIMIT 500" in WAKE_DUE.sqlite
    await import_contacts(db, campaign, numbers_csv(count))
    rules = QueueRules.of(campaign)
    for volunteer in range(count):
        card = await assign_next_contact(db, rules, volunteer)
        await record_outcome(db, rules, volunteer, card.contact_id, card.lease_seq,
                             Outcome.NO_ANSWER)
    assert await assign_next_contact(db, rules, 9999) is None  # all waiting
    frozen_clock.advance(hours=2, minutes=1)
    handed = [await assign_next_contact(db, rules, 10_000 + v) for v in range(count)]
    assert all(card is not None and card.attempts == 1 for card in handed)
    assert len({card.contact_id for card in handed}) == count
    assert await assign_next_contact(db, rules, 9999) is None


async def two_numbers_due_again(db: Database) -> tuple[Campaign, QueueRules]:
    from tests.conftest import load_example_campaign

    campaign = await load_example_campaign(db)
    await import_contacts(db, campaign, numbers_csv(2))
    rules = QueueRules.of(campaign)
    for volunteer in (1, 2):
        card = await assign_next_contact(db, rules, volunteer)
        await record_outcome(db, rules, volunteer, card.contact_id, card.lease_seq,
                             Outcome.NO_ANSWER)
    return campaign, rules


async def test_a_claim_in_progress_hides_none_of_the_numbers_it_woke(
        postgres_url, frozen_clock, monkeypatch):
    """PostgreSQL only: SQLite's writers take turns, so no claim runs beside another."""
    from storage import calling
    from storage.driver import PostgresTx
    from tests.conftest import make_postgres

    db = await make_postgres(postgres_url)
    try:
        _campaign, rules = await two_numbers_due_again(db)
        frozen_clock.advance(hours=2, minutes=1)  # both due again
        claimed, go_on = asyncio.Event(), asyncio.Event()
        one = PostgresTx.one

        async def first_claim_stalls(self, sql, *args, **params):
            row = await one(self, sql, *args, **params)
            if sql is calling.CLAIM and not claimed.is_set():
                claimed.set()
                await go_on.wait()  # its transaction stays open
            return row

        monkeypatch.setattr(PostgresTx, "one", first_claim_stalls)
        first = asyncio.create_task(assign_next_contact(db, rules, 10))
        await asyncio.wait_for(claimed.wait(), 5)
        second = await asyncio.wait_for(assign_next_contact(db, rules, 11), 5)
        go_on.set()
        first_card = await first
        assert second is not None and first_card is not None
        assert second.contact_id != first_card.contact_id
    finally:
        await db.dispose()


async def test_a_wake_up_in_progress_elsewhere_hides_nothing(postgres_url, frozen_clock):
    """PostgreSQL only. Rows another wake-up holds, not committed yet, are waited for: skipped,
    they would look asleep, and the volunteer be told nobody is left."""
    from storage import calling, clock
    from tests.conftest import make_postgres

    db = await make_postgres(postgres_url)
    try:
        campaign, rules = await two_numbers_due_again(db)
        frozen_clock.advance(hours=2, minutes=1)
        async with db.fast_write() as other:  # someone else's wake-up, still uncommitted
            await other.run(calling.WAKE_DUE, campaign_id=campaign.id, now=clock.utcnow())
            claim = asyncio.create_task(assign_next_contact(db, rules, 11))
            await asyncio.sleep(0.2)
        card = await asyncio.wait_for(claim, 5)
        assert card is not None
    finally:
        await db.dispose()


def test_call_back_later_never_falls_outside_calling_hours(campaign_in_sqlite):
    from datetime import UTC, datetime

    from storage.campaigns import call_back_time

    def local(at: datetime) -> str:
        return at.astimezone(ZoneInfo("Europe/Paris")).strftime("%d/%m %H:%M")

    campaign = campaign_in_sqlite
    ten = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # 10:00 in Paris
    assert local(call_back_time(campaign, "1h", ten)) == "10/06 11:00"
    assert local(call_back_time(campaign, "evening", ten)) == "10/06 18:30"
    assert local(call_back_time(campaign, "tomorrow", ten)) == "11/06 09:00"
    late = datetime(2026, 6, 10, 18, 30, tzinfo=UTC)  # 20:30: an hour on, calling is closed
    assert local(call_back_time(campaign, "1h", late)) == "11/06 09:00"
    assert local(call_back_time(campaign, "evening", late)) == "11/06 09:00"


async def test_second_press_stale_card_and_other_volunteers_card_record_nothing(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(3))
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 1)
    first = await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.WILL_VOTE)
    twice = await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.NOT_INTERESTED)
    other = await record_outcome(db, rules, 2, card.contact_id, card.lease_seq, Outcome.WILL_VOTE)
    assert (first.status, twice.status, other.status) == (
        Recorded.RECORDED, Recorded.ALREADY, Recorded.NOT_YOURS)
    # A lease that ran out: the contact is someone else's now, the old card records nothing.
    stale = await assign_next_contact(db, rules, 1)
    frozen_clock.advance(minutes=16)
    taken = await assign_next_contact(db, rules, 2)
    assert taken.contact_id == stale.contact_id
    late = await record_outcome(db, rules, 1, stale.contact_id, stale.lease_seq, Outcome.WILL_VOTE)
    assert late.status is Recorded.EXPIRED
    async with db.read() as s:
        calls = (await s.execute(select(Call.outcome))).scalars().all()
    assert calls == [Outcome.WILL_VOTE]


async def test_do_not_call_is_permanent_and_blocks_reimport(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(1))
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 1)
    frozen_clock.advance(minutes=1)  # someone answered, and asked never to be called again
    await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.DO_NOT_CALL)
    async with db.read() as s:
        assert (await s.execute(select(DoNotCall.phone))).scalars().all() == [card.phone]
    report = await import_contacts(db, campaign, numbers_csv(1))
    assert report.do_not_call == 1 and report.imported == 0
    assert await assign_next_contact(db, rules, 1) is None


async def test_follow_up_outcomes_are_stored(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(3))
    rules = QueueRules.of(campaign)
    for volunteer, outcome in enumerate((Outcome.NEEDS_PROXY, Outcome.CAN_CARRY_PROXY,
                                         Outcome.WANTS_TO_VOLUNTEER), start=1):
        card = await assign_next_contact(db, rules, volunteer)
        await record_outcome(db, rules, volunteer, card.contact_id, card.lease_seq, outcome)
    async with db.read() as s:
        flags = sorted((await s.execute(select(Contact.follow_up))).scalars())
    assert flags == ["can_carry_proxy", "needs_proxy", "wants_volunteer"]


async def test_call_back_later_returns_at_the_chosen_time(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(1))
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 1)
    later = frozen_clock.now.replace(hour=17)
    await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.CALL_BACK,
                         call_back_at=later)
    frozen_clock.advance(hours=8, minutes=59)
    assert await assign_next_contact(db, rules, 2) is None
    frozen_clock.advance(minutes=2)
    assert (await assign_next_contact(db, rules, 2)).contact_id == card.contact_id


async def test_expired_lease_comes_back_and_counts_as_abandoned(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(2))
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 1)
    frozen_clock.advance(minutes=15)
    expired = await expire_leases(db, rules)
    assert [e.contact_id for e in expired] == [card.contact_id]
    again = await assign_next_contact(db, rules, 2)
    assert again.contact_id == card.contact_id and again.lease_seq == card.lease_seq + 1


async def test_skipping_too_many_pauses_the_volunteer(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(20))
    await ensure_user(db, Profile(5, "Harvey"))
    await decide_volunteer(db, 5, True, actor_id=None)
    rules = QueueRules.of(campaign)
    results = []
    for _ in range(rules.skip_limit_per_hour):
        card = await assign_next_contact(db, rules, 5)
        results.append(await record_outcome(db, rules, 5, card.contact_id, card.lease_seq,
                                            Outcome.SKIPPED))
    assert [r.volunteer_paused for r in results] == [False] * (rules.skip_limit_per_hour - 1) + [True]
    assert (await get_user(db, 5)).volunteer_status == VolunteerStatus.PAUSED


async def test_200_volunteers_at_once_never_share_a_contact(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(150))
    rules = QueueRules.of(campaign)
    cards = await asyncio.gather(*(assign_next_contact(db, rules, v) for v in range(1, 201)))
    handed = [c.contact_id for c in cards if c is not None]
    assert len(handed) == 150 and len(set(handed)) == 150  # all handed out, none twice
    # Everyone records, the 50 without a card ask again: still nothing for them.
    await asyncio.gather(*(record_outcome(db, rules, v, c.contact_id, c.lease_seq, Outcome.WILL_VOTE)
                           for v, c in enumerate(cards, start=1) if c is not None))
    again = await asyncio.gather(*(assign_next_contact(db, rules, v) for v in range(1, 201)))
    assert all(c is None for c in again)
    async with db.read() as s:
        calls = (await s.execute(select(func.count()).select_from(Call))).scalar_one()
        done = (await s.execute(select(func.count()).where(Contact.status == "done"))).scalar_one()
    assert calls == 150 and done == 150


async def test_200_volunteers_with_contacts_to_spare(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(400))
    rules = QueueRules.of(campaign)
    seen: list[int] = []

    async def volunteer(v: int) -> None:
        for _ in range(2):
            card = await assign_next_contact(db, rules, v)
            seen.append(card.contact_id)
            result = await record_outcome(db, rules, v, card.contact_id, card.lease_seq,
                                          Outcome.UNDECIDED)
            assert result.status is Recorded.RECORDED

    await asyncio.gather(*(volunteer(v) for v in range(1, 201)))
    assert len(seen) == 400 and len(set(seen)) == 400


async def test_forget_frees_the_held_card_and_anonymises_calls(db, campaign, frozen_clock):
    from storage.forget import forget_person

    await import_contacts(db, campaign, numbers_csv(2))
    await ensure_user(db, Profile(9, "Zoé", username="zoe"))
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 9)
    await record_outcome(db, rules, 9, card.contact_id, card.lease_seq, Outcome.WILL_VOTE)
    held = await assign_next_contact(db, rules, 9)
    await forget_person(db, 9)
    assert await get_user(db, 9) is None
    assert (await assign_next_contact(db, rules, 10)).contact_id == held.contact_id
    async with db.read() as s:
        assert (await s.execute(select(Call.volunteer_id))).scalar_one() < 0


async def test_a_volunteers_concurrent_taps_hold_one_contact(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(10))
    rules = QueueRules.of(campaign)
    cards = await asyncio.gather(*(assign_next_contact(db, rules, 1) for _ in range(5)))
    assert len({c.contact_id for c in cards}) == 1


async def test_an_outcome_pressed_after_the_lease_ran_out_still_counts(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(2))
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 1)
    frozen_clock.advance(minutes=20)  # a long call: the tick took the card back
    await expire_leases(db, rules)
    late = await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.DO_NOT_CALL)
    assert late.status is Recorded.RECORDED
    async with db.read() as s:
        assert (await s.execute(select(Call.outcome))).scalars().all() == ["do_not_call"]
        assert (await s.execute(select(DoNotCall.phone))).scalars().all() == [card.phone]
    # Once somebody else has the card, it is too late.
    other = await assign_next_contact(db, rules, 1)
    frozen_clock.advance(minutes=20)
    await expire_leases(db, rules)
    taken = await assign_next_contact(db, rules, 2)
    assert taken.contact_id == other.contact_id
    too_late = await record_outcome(db, rules, 1, other.contact_id, other.lease_seq, Outcome.WILL_VOTE)
    assert too_late.status is Recorded.EXPIRED


async def test_a_resumed_volunteer_starts_afresh(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(30))
    await ensure_user(db, Profile(5, "Harvey"))
    await decide_volunteer(db, 5, True, actor_id=None)
    rules = QueueRules.of(campaign)
    for _ in range(rules.skip_limit_per_hour):
        card = await assign_next_contact(db, rules, 5)
        result = await record_outcome(db, rules, 5, card.contact_id, card.lease_seq, Outcome.SKIPPED)
    assert result.volunteer_paused
    frozen_clock.advance(minutes=1)
    await decide_volunteer(db, 5, True, actor_id=900)  # an organizer resumes them
    frozen_clock.advance(minutes=1)
    card = await assign_next_contact(db, rules, 5)
    again = await record_outcome(db, rules, 5, card.contact_id, card.lease_seq, Outcome.SKIPPED)
    assert not again.volunteer_paused
    assert (await get_user(db, 5)).volunteer_status == VolunteerStatus.APPROVED


async def test_do_not_call_closes_the_number_everywhere_even_while_held(db, campaign, frozen_clock):
    from storage.campaigns import load_campaign

    other, _ = await load_campaign(db, {"name": "Municipales", "script": "Bonjour"})
    await import_contacts(db, other, numbers_csv(1))
    other_rules = QueueRules.of(other)
    held_elsewhere = await assign_next_contact(db, other_rules, 2)
    campaign.active = True
    await import_contacts(db, campaign, numbers_csv(1))
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 1)
    assert card.phone == held_elsewhere.phone
    frozen_clock.advance(minutes=1)
    await record_outcome(db, rules, 1, card.contact_id, card.lease_seq, Outcome.DO_NOT_CALL)
    async with db.read() as s:
        statuses = (await s.execute(select(Contact.status))).scalars().all()
    assert statuses == ["dnc", "dnc"]


async def test_claim_never_hands_out_a_number_on_the_list(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(1))
    async with db.write() as s:  # listed by another process while the import ran
        s.add(DoNotCall(phone="+33610000000"))
    assert await assign_next_contact(db, QueueRules.of(campaign), 1) is None


async def test_targets_match_accented_capitals_after_a_reload(db, campaign, frozen_clock):
    from storage.campaigns import load_campaign, parse_campaign_file

    data = "telephone;circonscription\n0612345678;BOUCHES-DU-RHÔNE 4\n0698765432;Ailleurs 1\n".encode()
    await import_contacts(db, campaign, io.BytesIO(data))
    await load_campaign(db, parse_campaign_file(ROOT / "examples" / "campaign.toml"))
    async with db.read() as s:
        priorities = dict((await s.execute(select(Contact.phone, Contact.priority))).all())
    assert priorities == {"+33612345678": 2, "+33698765432": 1_000_000}


async def test_two_first_updates_of_a_new_person_at_once(db):
    users = await asyncio.gather(*(ensure_user(db, Profile(77, "Nour")) for _ in range(4)))
    assert {u.id for u in users} == {77}


async def test_another_process_holding_sqlite_makes_the_queue_wait_not_fail(sqlite_db, frozen_clock):
    """The CLI importing while the bot runs: the claim waits in a thread, the loop stays free."""
    import sqlite3

    from tests.conftest import load_example_campaign

    campaign = await load_example_campaign(sqlite_db)
    await import_contacts(sqlite_db, campaign, numbers_csv(3))
    other = sqlite3.connect(sqlite_db.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the other process's write transaction
    claim = asyncio.create_task(assign_next_contact(sqlite_db, QueueRules.of(campaign), 1))
    ticks = 0
    while not claim.done() and ticks < 20:  # the event loop keeps turning meanwhile
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not claim.done()
    other.execute("COMMIT")
    other.close()
    card = await asyncio.wait_for(claim, 10)
    assert card is not None and card.phone == "+33610000000"


async def test_writes_cancelled_at_any_point_leave_no_lock_behind(db, campaign):
    """Handlers cancelled (shutdown, a client gone) at any point of a write: the next write
    to the same row must neither wait for an abandoned transaction nor run inside one."""
    from storage.driver import SQL

    touch = SQL.of("UPDATE campaign SET max_attempts = max_attempts + 1 WHERE id = :id")
    read = SQL.of("SELECT max_attempts FROM campaign WHERE id = :id")

    async def write() -> int:
        async with db.fast_write() as tx:
            await tx.run(touch, id=campaign.id)
            row = await tx.one(read, id=campaign.id)
            await tx.run(touch, id=campaign.id)
        return int(row[0])

    async def orm_read() -> None:
        async with db.read() as session:
            await session.get(Campaign, campaign.id)
            await session.get(Campaign, campaign.id)

    loop = asyncio.get_running_loop()
    for step in range(60):  # cancel after 0, 0.1, 0.2 ... 6 ms: every stage gets hit
        tasks = [asyncio.create_task(write()), asyncio.create_task(orm_read())]
        for task in tasks:
            loop.call_later(step / 10_000, task.cancel)
        await asyncio.gather(*tasks, return_exceptions=True)
        before = await asyncio.wait_for(write(), timeout=5) - 1
        async with db.fast_read() as tx:
            after = int((await tx.one(read, id=campaign.id))[0])
        assert after == before + 2  # that write committed whole, outside any other
        async with db.write() as session:  # and so does one through the ORM
            (await session.get(Campaign, campaign.id)).lease_minutes = step + 1
        async with db.fast_read() as tx:
            row = await tx.one(SQL.of("SELECT lease_minutes FROM campaign WHERE id = :id"),
                               id=campaign.id)
        assert row[0] == step + 1

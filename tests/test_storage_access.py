"""Who may call, on both databases: requests, decisions and pauses queue their messages in
their own transaction; a volunteer paused or declined loses their card at once; the
harvest guard counts every card and holds implausibly fast do-not-call presses."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from storage.calling import QueueRules, Recorded, assign_next_contact, expire_leases, record_outcome
from storage.contacts import import_contacts
from storage.database import Database
from storage.models import Call, Contact, DoNotCall, Outbox, Outcome, VolunteerStatus
from storage.users import (
    Profile,
    decide_volunteer,
    ensure_user,
    get_user,
    request_to_call,
    set_organizer,
)
from tests.test_storage_calling import numbers_csv

ORGANIZERS = (900, 901)


async def people(db: Database, *volunteers: int) -> None:
    for organizer in ORGANIZERS:
        await ensure_user(db, Profile(organizer, "Orga"))
        await set_organizer(db, organizer, True, actor_id=None)
    for volunteer in volunteers:
        await ensure_user(db, Profile(volunteer, f"V{volunteer}"))
        await decide_volunteer(db, volunteer, True, actor_id=None)


async def queued(db: Database, kind: str | None = None) -> list[tuple[str, int]]:
    async with db.read() as s:
        rows = (await s.execute(select(Outbox.kind, Outbox.chat_id).order_by(Outbox.id))).all()
    return [(k, c) for k, c in rows if kind is None or k == kind]


async def status_of(db: Database, user_id: int) -> VolunteerStatus:
    return (await get_user(db, user_id)).volunteer_status


async def test_asking_to_call_queues_the_organizers_alert_and_the_confirmation(db, frozen_clock):
    await people(db)
    await ensure_user(db, Profile(7, "Eve"))
    before = await queued(db)
    first = await request_to_call(db, 7)
    second = await request_to_call(db, 7)
    assert first.changed and not second.changed
    new = (await queued(db))[len(before):]
    assert sorted(new) == sorted([("volunteer_request", 900), ("volunteer_request", 901),
                                  ("volunteer_request_sent", 7)])


async def test_a_decision_queues_the_persons_message_once(db, frozen_clock):
    await people(db)
    await ensure_user(db, Profile(7, "Eve"))
    await request_to_call(db, 7)
    assert (await decide_volunteer(db, 7, True, actor_id=900)).changed
    assert not (await decide_volunteer(db, 7, True, actor_id=901)).changed
    assert await queued(db, "volunteer_decision") == [("volunteer_decision", 7)]
    assert (await decide_volunteer(db, 7, False, actor_id=900)).changed
    assert await queued(db, "volunteer_decision") == [("volunteer_decision", 7)] * 2


async def test_approving_someone_who_never_wrote_queues_nothing(db, frozen_clock):
    decision = await decide_volunteer(db, 4242, True, actor_id=None)
    assert decision.changed and await status_of(db, 4242) is VolunteerStatus.APPROVED
    assert await queued(db) == []  # nothing can reach them before they open the bot


async def test_a_declined_volunteer_loses_the_card_at_once(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(3))
    await people(db, 5, 6)
    rules = QueueRules.of(campaign)
    card = await assign_next_contact(db, rules, 5)
    await decide_volunteer(db, 5, False, actor_id=900)
    async with db.read() as s:
        contact = await s.get(Contact, card.contact_id)
    assert contact.held_by is None and contact.lease_seq == card.lease_seq + 1
    pressed = await record_outcome(db, rules, 5, card.contact_id, card.lease_seq,
                                   Outcome.NO_ANSWER)
    assert pressed.status is Recorded.EXPIRED
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Call))).scalar_one() == 0
    other = await assign_next_contact(db, rules, 6)
    assert other.contact_id == card.contact_id  # first in the queue again, at once


async def test_the_skip_limit_pause_queues_its_alerts_in_its_transaction(db, campaign,
                                                                        frozen_clock):
    await import_contacts(db, campaign, numbers_csv(20))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    for _ in range(rules.skip_limit_per_hour):
        card = await assign_next_contact(db, rules, 5)
        result = await record_outcome(db, rules, 5, card.contact_id, card.lease_seq,
                                      Outcome.SKIPPED)
    assert result.volunteer_paused
    assert sorted(await queued(db, "volunteer_paused")) == [("volunteer_paused", 900),
                                                            ("volunteer_paused", 901)]
    assert await queued(db, "calling_paused") == [("calling_paused", 5)]


async def test_a_pause_for_unanswered_cards_takes_the_card_held_meanwhile(db, campaign,
                                                                         frozen_clock):
    """The tick finds an expired card while its holder already holds a fresh one: the pause
    takes that one too, and the alerts are queued with it."""
    await import_contacts(db, campaign, numbers_csv(20, constituency="Ailleurs"))
    await people(db, 5, 6)
    rules = QueueRules.of(campaign)
    for _ in range(rules.skip_limit_per_hour - 1):
        card = await assign_next_contact(db, rules, 5)
        await record_outcome(db, rules, 5, card.contact_id, card.lease_seq, Outcome.SKIPPED)
    await assign_next_contact(db, rules, 5)
    frozen_clock.advance(minutes=16)
    # A close race comes in: the old lease ran out, so the volunteer gets this one now.
    await import_contacts(db, campaign, io.BytesIO(
        b"telephone,prenom,circonscription\n0699999999,Zoe,Seine-Saint-Denis 1"))
    fresh = await assign_next_contact(db, rules, 5)
    assert fresh.first_name == "Zoe"
    expired = await expire_leases(db, rules)
    assert [e.paused for e in expired] == [True]
    assert await status_of(db, 5) is VolunteerStatus.PAUSED
    pressed = await record_outcome(db, rules, 5, fresh.contact_id, fresh.lease_seq,
                                   Outcome.WILL_VOTE)
    assert pressed.status is Recorded.EXPIRED
    assert sorted(await queued(db, "volunteer_paused")) == [("volunteer_paused", 900),
                                                            ("volunteer_paused", 901)]
    assert await queued(db, "calling_paused") == [("calling_paused", 5)]


async def test_every_card_seen_counts_towards_the_hourly_limit(db, campaign, frozen_clock):
    """Calls recorded (not only skips) count: more cards in an hour than anyone can call
    pauses the volunteer."""
    await import_contacts(db, campaign, numbers_csv(60))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    assert rules.card_limit_per_hour == 40
    paused = []
    for outcome in ([Outcome.NO_ANSWER, Outcome.WILL_VOTE, Outcome.UNDECIDED] * 14)[:41]:
        card = await assign_next_contact(db, rules, 5)
        if card is None:
            break
        frozen_clock.advance(seconds=30)
        paused.append((await record_outcome(db, rules, 5, card.contact_id, card.lease_seq,
                                            outcome)).volunteer_paused)
    assert paused == [False] * 40 + [True]  # the 41st card within the hour
    assert await status_of(db, 5) is VolunteerStatus.PAUSED
    assert sorted(await queued(db, "volunteer_paused")) == [("volunteer_paused", 900),
                                                            ("volunteer_paused", 901)]


async def test_cards_an_hour_apart_never_pause(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(60))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    for _ in range(50):
        card = await assign_next_contact(db, rules, 5)
        frozen_clock.advance(minutes=2)
        result = await record_outcome(db, rules, 5, card.contact_id, card.lease_seq,
                                      Outcome.WILL_VOTE)
        assert not result.volunteer_paused
    assert await status_of(db, 5) is VolunteerStatus.APPROVED


async def dnc_after(db, rules, frozen_clock, volunteer: int, seconds: float):
    card = await assign_next_contact(db, rules, volunteer)
    frozen_clock.advance(seconds=seconds)
    return card, await record_outcome(db, rules, volunteer, card.contact_id, card.lease_seq,
                                      Outcome.DO_NOT_CALL)


async def on_the_list(db: Database) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(DoNotCall))).scalar_one()


async def test_a_do_not_call_after_a_real_conversation_is_applied_at_once(db, campaign,
                                                                         frozen_clock):
    await import_contacts(db, campaign, numbers_csv(5))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    _card, result = await dnc_after(db, rules, frozen_clock, 5, 45)
    assert result.status is Recorded.RECORDED and result.hold_id is None
    assert await on_the_list(db) == 1
    assert await queued(db, "dnc_held") == []


async def test_a_do_not_call_pressed_too_fast_is_held_for_an_organizer(db, campaign,
                                                                      frozen_clock):
    from storage.dnc_holds import decide_hold

    await import_contacts(db, campaign, numbers_csv(5))
    await people(db, 5, 6)
    rules = QueueRules.of(campaign)
    card, result = await dnc_after(db, rules, frozen_clock, 5, 1)
    assert result.status is Recorded.HELD and result.hold_id is not None
    assert await on_the_list(db) == 0
    async with db.read() as s:
        assert (await s.get(Contact, card.contact_id)).status == "held"
    assert sorted(await queued(db, "dnc_held")) == [("dnc_held", 900), ("dnc_held", 901)]
    # Out of the queue meanwhile: the next volunteer gets someone else.
    other = await assign_next_contact(db, rules, 6)
    assert other.contact_id != card.contact_id
    # Pressing the same card again records nothing more.
    again = await record_outcome(db, rules, 5, card.contact_id, card.lease_seq,
                                 Outcome.DO_NOT_CALL)
    assert again.status is Recorded.ALREADY
    # An organizer confirms: on the list for good; a second press of either button is moot.
    assert (await decide_hold(db, result.hold_id, True, actor_id=900)).changed
    assert not (await decide_hold(db, result.hold_id, False, actor_id=901)).changed
    assert await on_the_list(db) == 1
    async with db.read() as s:
        assert (await s.get(Contact, card.contact_id)).status == "dnc"


async def test_a_rejected_hold_puts_the_contact_back_in_the_queue(db, campaign, frozen_clock):
    from storage.dnc_holds import decide_hold

    await import_contacts(db, campaign, numbers_csv(1))
    await people(db, 5, 6)
    rules = QueueRules.of(campaign)
    card, result = await dnc_after(db, rules, frozen_clock, 5, 2)
    assert await assign_next_contact(db, rules, 6) is None  # the only contact is held
    assert (await decide_hold(db, result.hold_id, False, actor_id=900)).changed
    assert await on_the_list(db) == 0
    again = await assign_next_contact(db, rules, 6)
    assert again is not None and again.contact_id == card.contact_id
    async with db.read() as s:
        outcomes = (await s.execute(select(Call.outcome))).scalars().all()
    assert outcomes == ["skipped"]  # not a call: the press was not taken


async def test_forty_do_not_call_presses_a_second_apart_put_nobody_on_the_list(db, campaign,
                                                                              frozen_clock):
    await import_contacts(db, campaign, numbers_csv(60))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    statuses = []
    for _ in range(40):
        card = await assign_next_contact(db, rules, 5)
        if card is None:
            break
        frozen_clock.advance(seconds=1)
        statuses.append((await record_outcome(db, rules, 5, card.contact_id, card.lease_seq,
                                              Outcome.DO_NOT_CALL)).status)
    assert await on_the_list(db) == 0
    assert set(statuses) == {Recorded.HELD}
    assert await status_of(db, 5) is VolunteerStatus.PAUSED  # three held in an hour pause


async def test_held_presses_stay_confirmable_once_the_volunteer_is_paused(db, campaign,
                                                                         frozen_clock):
    from storage.dnc_holds import decide_hold

    await import_contacts(db, campaign, numbers_csv(10))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    holds = [(await dnc_after(db, rules, frozen_clock, 5, 1))[1].hold_id for _ in range(3)]
    assert await status_of(db, 5) is VolunteerStatus.PAUSED
    await decide_volunteer(db, 5, False, actor_id=900)  # and even declined
    for hold in holds:
        assert (await decide_hold(db, hold, True, actor_id=900)).changed
    assert await on_the_list(db) == 3


async def test_a_patient_harvester_gets_only_a_few_numbers_on_the_list_an_hour(db, campaign,
                                                                              frozen_clock):
    """Each ⛔ after a plausible conversation, but one after another: beyond a quarter of
    the hour's card limit, they wait for an organizer too."""
    await import_contacts(db, campaign, numbers_csv(30))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    results = [(await dnc_after(db, rules, frozen_clock, 5, 40))[1] for _ in range(12)]
    assert [r.status for r in results] == [Recorded.RECORDED] * 10 + [Recorded.HELD] * 2
    assert await on_the_list(db) == 10
    frozen_clock.advance(hours=1)
    assert (await dnc_after(db, rules, frozen_clock, 5, 40))[1].status is Recorded.RECORDED


async def test_the_card_limit_comes_from_the_campaign_file(tmp_path):
    import pytest

    from storage.campaigns import CampaignFileError, parse_campaign_file
    from tests.conftest import ROOT

    example = (ROOT / "examples" / "campaign.toml").read_text()
    assert parse_campaign_file(ROOT / "examples" / "campaign.toml")["card_limit_per_hour"] == 40
    path = tmp_path / "c.toml"
    path.write_text(example.replace("[queue]", "[queue]\ncard_limit_per_hour = 25", 1)
                    .replace("card_limit_per_hour = 40", ""))
    assert parse_campaign_file(path)["card_limit_per_hour"] == 25
    path.write_text(example.replace("card_limit_per_hour = 40", "card_limit_per_hour = 0"))
    with pytest.raises(CampaignFileError, match="card_limit_per_hour"):
        parse_campaign_file(path)


async def test_forgetting_a_volunteer_keeps_their_held_presses_decidable(db, campaign,
                                                                        frozen_clock):
    from storage.dnc_holds import decide_hold, hold_view
    from storage.forget import forget_person

    await import_contacts(db, campaign, numbers_csv(3))
    await people(db, 5)
    rules = QueueRules.of(campaign)
    _card, result = await dnc_after(db, rules, frozen_clock, 5, 1)
    await forget_person(db, 5)
    view = await hold_view(db, result.hold_id)
    assert view.volunteer_id < 0 and view.volunteer_name is None  # anonymous now
    assert (await decide_hold(db, result.hold_id, True, actor_id=900)).changed
    async with db.read() as s:
        added_by = (await s.execute(select(DoNotCall.added_by))).scalar_one()
    assert added_by is None or added_by < 0

"""Graduated trust and practice in storage, on both databases: the cards an hour and a day
of a caller not yet trusted, trust by an organizer or by forty calls without a pause, and a
practice card counted once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage import clock
from storage.calling import (
    CardLimitReached,
    PauseReason,
    QueueRules,
    Recorded,
    assign_next_contact,
    pause_volunteer,
    record_outcome,
)
from storage.campaigns import CampaignFileError, parse_campaign_file
from storage.contacts import import_contacts
from storage.forget import forget_person
from storage.models import AuditLog, Outbox, Outcome
from storage.practice import record_practice
from storage.trust import trust_volunteer, untrusted_volunteers
from storage.users import Profile, decide_volunteer, ensure_user, get_user
from tests.conftest import ROOT
from tests.test_storage_calling import numbers_csv


async def caller(db, user_id: int = 7) -> None:
    await ensure_user(db, Profile(user_id, "Lisa"))
    await decide_volunteer(db, user_id, True, actor_id=None)


async def call(db, rules, user_id: int, outcome: Outcome = Outcome.WILL_VOTE, *,
               trusted: bool = False):
    card = await assign_next_contact(db, rules, user_id, trusted=trusted)
    assert card is not None
    return await record_outcome(db, rules, user_id, card.contact_id, card.lease_seq, outcome,
                                trusted=trusted)


async def test_an_untrusted_caller_gets_so_many_cards_an_hour_and_a_day(db, campaign,
                                                                        frozen_clock):
    await import_contacts(db, campaign, numbers_csv(20))
    rules = QueueRules(campaign.id, untrusted_cards_per_hour=3, untrusted_cards_per_day=5,
                       calls_to_trust=99)
    await caller(db)
    first = clock.utcnow()
    for _ in range(3):
        await call(db, rules, 7, Outcome.NO_ANSWER)
        frozen_clock.advance(minutes=5)
    with pytest.raises(CardLimitReached) as refused:
        await assign_next_contact(db, rules, 7, trusted=False)
    assert not refused.value.daily
    assert refused.value.until == first + timedelta(hours=1)  # the first card an hour old
    # The same caller, trusted, or someone else, is not concerned.
    assert await assign_next_contact(db, rules, 8, trusted=False) is not None
    frozen_clock.advance(minutes=66)
    await call(db, rules, 7)
    await call(db, rules, 7, Outcome.SKIPPED)  # a card given back counts as a card
    with pytest.raises(CardLimitReached) as refused:
        await assign_next_contact(db, rules, 7, trusted=False)
    assert refused.value.daily and refused.value.until == first + timedelta(days=1)
    assert await assign_next_contact(db, rules, 7, trusted=True) is not None


async def test_the_card_held_is_given_back_even_at_the_limit(db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(5))
    rules = QueueRules(campaign.id, untrusted_cards_per_hour=1, calls_to_trust=99)
    await caller(db)
    await call(db, rules, 7)
    with pytest.raises(CardLimitReached):
        await assign_next_contact(db, rules, 7, trusted=False)
    # A card claimed as trusted, then asked again: the held card always comes back.
    held = await assign_next_contact(db, rules, 7, trusted=True)
    again = await assign_next_contact(db, rules, 7, trusted=False)
    assert held is not None and again is not None and again.contact_id == held.contact_id


async def test_forty_calls_since_the_approval_bring_trust_and_a_pause_starts_afresh(
        db, campaign, frozen_clock):
    await import_contacts(db, campaign, numbers_csv(20))
    rules = QueueRules(campaign.id, calls_to_trust=4)
    await caller(db)
    for _ in range(3):
        result = await call(db, rules, 7)
        assert not result.trusted_now
        frozen_clock.advance(minutes=3)
    async with db.fast_write() as tx:  # paused (the harvest guard), then resumed
        await pause_volunteer(tx, 7, PauseReason.SKIPS, 10, clock.utcnow())
    frozen_clock.advance(minutes=3)
    await decide_volunteer(db, 7, True, actor_id=None)
    for _ in range(3):
        await call(db, rules, 7, Outcome.SKIPPED)  # skips are no calls
        frozen_clock.advance(minutes=3)
    for _ in range(3):
        assert not (await call(db, rules, 7)).trusted_now
        frozen_clock.advance(minutes=3)
    assert not (await get_user(db, 7)).trusted
    result = await call(db, rules, 7)
    assert result.status is Recorded.RECORDED and result.trusted_now
    assert (await get_user(db, 7)).trusted
    async with db.read() as s:
        kinds = (await s.execute(select(Outbox.kind).where(Outbox.chat_id == 7))).scalars().all()
    assert kinds.count("trusted") == 1


async def test_an_organizer_trusts_once_and_it_is_audited(db, campaign, frozen_clock):
    await caller(db)
    await ensure_user(db, Profile(8, "Bruno"))
    assert [p.id for p in await untrusted_volunteers(db)] == [7]  # approved callers only
    first = await trust_volunteer(db, 7, actor_id=900)
    again = await trust_volunteer(db, 7, actor_id=900)
    assert first.changed and not again.changed and first.user.trusted
    assert await untrusted_volunteers(db) == []
    # Approve and trust in one: a person waiting gets one word, the approval's.
    both = await trust_volunteer(db, 8, actor_id=900, approve=True)
    assert both.changed and both.approved and both.user.volunteer_status == "approved"
    async with db.read() as s:
        audited = (await s.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "volunteers.trust"))).scalar_one()
        to_bruno = (await s.execute(select(Outbox.kind).where(Outbox.chat_id == 8))).scalars()
        assert sorted(to_bruno) == ["volunteer_decision"]
    assert audited == 2
    # Nobody there: nothing to trust, and a button no longer brings anyone back.
    assert (await trust_volunteer(db, 12345, actor_id=900, approve=True)).user is None


async def test_forget_takes_trust_and_practice_with_the_person(db, campaign, frozen_clock):
    await caller(db)
    await trust_volunteer(db, 7, actor_id=900)
    await record_practice(db, 7, 0, 1)
    await forget_person(db, 7, rejoin_secret=b"s" * 32)
    person = await ensure_user(db, Profile(7, "Lisa"))
    assert not person.trusted and person.practice_calls == 0 and not person.trained


async def test_a_practice_card_counts_once(db, campaign):
    await caller(db)
    first = await record_practice(db, 7, 0, 2)
    again = await record_practice(db, 7, 0, 2)  # the same card pressed twice
    assert first.counted and not again.counted and first.done == again.done == 1
    assert not first.trained
    second = await record_practice(db, 7, 1, 2)
    assert second.counted and second.done == 2 and second.trained


@pytest.mark.parametrize(("content", "complaint"), [
    ("[practice]\ncalls_required = -1\n", "practice.calls_required must be a whole number"),
    ("[practice]\ncalls = 1\n", "[practice] knows calls_required"),
    ("[trust]\ncards_per_hour = 0\n", "trust.cards_per_hour must be a whole number"),
    ("[trust]\ncards_per_hour = 30\ncards_per_day = 20\n", "cannot be more than"),
    ("[trust]\ncalls_to_trust = \"forty\"\n", "trust.calls_to_trust must be a whole number"),
])
def test_campaign_file_training_mistakes_are_explained(tmp_path, content, complaint):
    path = tmp_path / "campaign.toml"
    path.write_text('[campaign]\nname = "C"\n[script]\ntext = "Bonjour"\n' + content)
    with pytest.raises(CampaignFileError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        parse_campaign_file(path)


def test_the_example_campaign_file_says_what_the_defaults_are():
    fields = parse_campaign_file(ROOT / "examples" / "campaign.toml")
    assert (fields["practice_calls_required"], fields["untrusted_cards_per_hour"],
            fields["untrusted_cards_per_day"], fields["calls_to_trust"]) == (1, 20, 60, 40)

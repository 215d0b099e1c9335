"""Contact links on both databases: a call's link, taken once, the callee in the web."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.calling import QueueRules, assign_next_contact, record_outcome
from storage.contacts import import_contacts
from storage.contacts.links import (
    join_through_call,
    link_to_send,
    my_calls_joined,
    would_volunteer,
)
from storage.database import Database
from storage.forget import forget_person
from storage.models import (
    Campaign,
    Contact,
    ContactLink,
    ContactStatus,
    Outbox,
    Outcome,
    ProxyKind,
    ProxyRequest,
    VolunteerStatus,
)
from storage.outbox import NoticeKind
from storage.proxies.requests import Requester, create_request
from storage.stats import organizer_stats
from storage.users import Profile, ensure_user, get_user, set_organizer
from storage.wall.figures import wall_figures
from storage.web import web_stats
from tests.test_storage_calling import numbers_csv
from tests.test_storage_proxies import SAINT_DENIS_12
from tests.test_storage_wall import load_with_rounds

LISA, FABRICE, MARC = 101, 202, 303


@pytest.fixture
async def campaign(db, frozen_clock):
    """The example campaign with its rounds a few days after the tests' clock."""
    return await load_with_rounds(db)


async def lisa_calls(db: Database, campaign: Campaign, outcome: Outcome | None = None):
    await import_contacts(db, campaign, numbers_csv(1))
    await ensure_user(db, Profile(LISA, "Lisa"))
    card = await assign_next_contact(db, QueueRules.of(campaign), LISA)
    assert card is not None
    if outcome is not None:
        await record_outcome(db, QueueRules.of(campaign), LISA, card.contact_id, card.lease_seq,
                             outcome)
    return card


async def test_the_link_is_the_holders_and_random_and_the_same_when_asked_again(
        db, campaign, frozen_clock):
    card = await lisa_calls(db, campaign)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    assert link is not None and link.phone == card.phone and not link.joined
    assert link.code.startswith("c_") and len(link.code) == 18  # 96 random bits, no id
    again = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    assert again is not None and again.code == link.code
    assert await link_to_send(db, campaign, MARC, card.contact_id, card.lease_seq) is None
    await record_outcome(db, QueueRules.of(campaign), LISA, card.contact_id, card.lease_seq,
                         Outcome.WILL_VOTE)
    after = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    assert after is not None and after.code == link.code and after.phone is None


async def test_opening_it_joins_the_web_leaves_the_queue_and_asks_to_call(
        db, campaign, frozen_clock):
    card = await lisa_calls(db, campaign)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    await record_outcome(db, QueueRules.of(campaign), LISA, card.contact_id, card.lease_seq,
                         Outcome.WANTS_TO_VOLUNTEER)
    assert [w.first_name for w in await would_volunteer(db, campaign.id)] == ["Personne10000000"]
    await ensure_user(db, Profile(FABRICE, "Fabrice"))
    await set_organizer(db, MARC, True, actor_id=None)
    joined = await join_through_call(db, FABRICE, link.code)
    assert joined is not None and joined.caller_id == LISA and joined.asked_to_call
    assert joined.attribution is not None and joined.attribution.recruits == 1
    fabrice, lisa = await get_user(db, FABRICE), await get_user(db, LISA)
    assert fabrice.referred_by == LISA and fabrice.volunteer_status is VolunteerStatus.PENDING
    assert lisa.recruits == 1 and await my_calls_joined(db, LISA) == 1
    assert await would_volunteer(db, campaign.id) == []
    async with db.read() as s:
        contact = (await s.execute(select(Contact))).scalar_one()
        kinds = [(o.kind, o.params) for o in (await s.execute(select(Outbox))).scalars().all()]
    assert contact.status == ContactStatus.JOINED and contact.held_by is None
    assert (NoticeKind.WEB_JOINED, {"recruit": FABRICE, "n": 1}) in kinds
    assert any(k == NoticeKind.VOLUNTEER_REQUEST and p.get("caller") == LISA for k, p in kinds)
    assert await assign_next_contact(db, QueueRules.of(campaign), MARC) is None
    # Used: nobody else takes it, and Fabrice again changes nothing.
    assert await join_through_call(db, MARC, link.code) is None
    assert await join_through_call(db, FABRICE, link.code) is None


async def test_two_people_opening_one_link_at_once_count_once(db, campaign, frozen_clock):
    card = await lisa_calls(db, campaign, Outcome.WILL_VOTE)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    await ensure_user(db, Profile(FABRICE, "Fabrice"))
    await ensure_user(db, Profile(MARC, "Marc"))
    results = await asyncio.gather(join_through_call(db, FABRICE, link.code),
                                   join_through_call(db, MARC, link.code))
    assert sum(r is not None for r in results) == 1
    assert (await get_user(db, LISA)).recruits == 1


async def test_expired_unknown_and_malformed_codes_change_nothing(db, campaign, frozen_clock):
    card = await lisa_calls(db, campaign, Outcome.WILL_VOTE)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    await ensure_user(db, Profile(FABRICE, "Fabrice"))
    for code in ("c_" + "A" * 16, "c_ bad!", "c_" + "x" * 80, link.code[2:], ""):
        assert await join_through_call(db, FABRICE, code) is None
    async with db.read() as s:
        stored = (await s.execute(select(ContactLink))).scalar_one()
    frozen_clock.now = stored.expires_at + timedelta(seconds=1)
    assert await join_through_call(db, FABRICE, link.code) is None
    assert (await get_user(db, LISA)).recruits == 0


async def test_a_proxy_need_taken_on_the_phone_becomes_theirs(db, campaign, frozen_clock):
    card = await lisa_calls(db, campaign, Outcome.NEEDS_PROXY)
    place = SAINT_DENIS_12
    await create_request(db, campaign, ProxyKind.NEED, Requester(
        card.first_name or "", contact_id=card.contact_id, phone=card.phone), place,
        [campaign.rounds[0]["date"]], recorded_by=LISA)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    await ensure_user(db, Profile(FABRICE, "Fabrice"))
    joined = await join_through_call(db, FABRICE, link.code)
    assert joined is not None and joined.proxy_kind == "need" and not joined.asked_to_call
    async with db.read() as s:
        request = (await s.execute(select(ProxyRequest))).scalar_one()
    assert request.user_id == FABRICE and request.phone is None


async def test_forgetting_the_callee_and_the_caller_keeps_the_count_and_no_id(
        db, campaign, frozen_clock):
    card = await lisa_calls(db, campaign, Outcome.WILL_VOTE)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    await ensure_user(db, Profile(FABRICE, "Fabrice"))
    await join_through_call(db, FABRICE, link.code)
    await forget_person(db, FABRICE)
    await forget_person(db, LISA)
    async with db.read() as s:
        stored = (await s.execute(select(ContactLink))).scalar_one()
    assert stored.used_by not in (None, FABRICE) and stored.volunteer_id != LISA
    assert stored.used_by < 0 and stored.volunteer_id < 0
    await ensure_user(db, Profile(MARC, "Marc"))
    assert await join_through_call(db, MARC, link.code) is None


async def test_stats_web_and_the_wall_count_calls_that_became_supporters_one_way(
        db, campaign, frozen_clock):
    card = await lisa_calls(db, campaign, Outcome.WILL_VOTE)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    before = await wall_figures(db, campaign)
    await ensure_user(db, Profile(FABRICE, "Fabrice"))
    await join_through_call(db, FABRICE, link.code)
    stats, web, wall = (await organizer_stats(db, campaign), await web_stats(db, campaign),
                        await wall_figures(db, campaign))
    assert before.calls_joined_today == 0
    assert (stats.calls_joined_today, stats.calls_joined) == (1, 1)
    assert (web.from_calls_today, web.from_calls) == (1, 1)
    assert wall.calls_joined_today == 1 and "calls_joined_today" in wall.as_json()
    frozen_clock.advance(days=1)
    assert (await organizer_stats(db, campaign)).calls_joined_today == 0
    assert (await wall_figures(db, campaign)).calls_joined_today == 0
    assert (await organizer_stats(db, campaign)).calls_joined == 1


async def fabrice_needs_a_proxy_on_the_phone_and_sophie_offers(db, campaign):
    """Lisa records Fabrice's need on the phone (the phone bank's, until he opens the
    link she sends him); Sophie offers at his station. Returns the need and the link."""
    card = await lisa_calls(db, campaign, Outcome.NEEDS_PROXY)
    first_round = [campaign.rounds[0]["date"]]
    need = await create_request(db, campaign, ProxyKind.NEED, Requester(
        card.first_name or "", contact_id=card.contact_id, phone=card.phone), SAINT_DENIS_12,
        first_round, recorded_by=LISA)
    await create_request(db, campaign, ProxyKind.OFFER, Requester("Sophie", user_id=MARC),
                         SAINT_DENIS_12, first_round)
    link = await link_to_send(db, campaign, LISA, card.contact_id, card.lease_seq)
    await ensure_user(db, Profile(FABRICE, "Fabrice"))
    return need, link


async def test_a_need_taken_on_the_phone_and_opened_during_the_pass_is_proposed_to_them(
        db, campaign, frozen_clock, monkeypatch):
    """The periodic pass plans from a snapshot in which Fabrice's need is the phone bank's;
    while it plans, Fabrice opens Lisa's link and the need is his. The pass's match is
    proposed to him, not left to the organizers' follow-up."""
    from storage.proxies import full_pass, match_all

    need, link = await fabrice_needs_a_proxy_on_the_phone_and_sophie_offers(db, campaign)
    planned_by_the_solver = full_pass._planned

    async def plan_while_fabrice_opens_the_link(needs, matcher, budget_s):
        planned = await planned_by_the_solver(needs, matcher, budget_s)
        assert [n.id for n in needs] == [need]
        assert (await join_through_call(db, FABRICE, link.code)) is not None
        return planned

    monkeypatch.setattr(full_pass, "_planned", plan_while_fabrice_opens_the_link)
    [match] = await match_all(db, campaign)

    async with db.read() as s:
        notices = {(o.key, o.chat_id) for o in (await s.execute(select(Outbox))).scalars()}
    assert (f"proxy-proposal:{match}:need", FABRICE) in notices
    assert (f"proxy-proposal:{match}:offer", MARC) in notices


async def test_a_need_taken_on_the_phone_and_opened_while_the_pass_writes_is_proposed_to_them(
        db, campaign, frozen_clock, monkeypatch):
    """Fabrice opens Lisa's link just as the pass, having read his need as the phone
    bank's, matches it with Sophie: the two queue one behind the other, and the match is
    proposed to him, not to nobody."""
    from storage.proxies import full_pass, match_all

    _need, link = await fabrice_needs_a_proxy_on_the_phone_and_sophie_offers(db, campaign)
    follow, opened = full_pass._follow, []

    def fabrice_opens_the_link_meanwhile(planned, area):
        opened.append(asyncio.ensure_future(join_through_call(db, FABRICE, link.code)))
        return follow(planned, area)

    async def write_once_he_opened(*args):
        await asyncio.wait(opened, timeout=1)  # done, unless it waits its turn
        return await write(*args)

    write = full_pass.write_pass
    monkeypatch.setattr(full_pass, "_follow", fabrice_opens_the_link_meanwhile)
    monkeypatch.setattr(full_pass, "write_pass", write_once_he_opened)
    [match] = await match_all(db, campaign)
    assert (await opened[0]).proxy_kind == "need"

    async with db.read() as s:
        notices = {(o.key, o.chat_id) for o in (await s.execute(select(Outbox))).scalars()}
    assert (f"proxy-proposal:{match}:need", FABRICE) in notices
    assert (f"proxy-proposal:{match}:offer", MARC) in notices

"""The question relay's storage, on SQLite and PostgreSQL: who may ask, how often (counted
in the database, whatever the races), the organizers' group as an outbox recipient, and
signatures by their author only."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from storage import outbox
from storage.models import Outbox, Pledge, ProxyRequest, Shift, ShiftSignup, User
from storage.outbox import Notice, NoticeKind
from storage.relay import (
    ASKS_PER_HOUR,
    Asker,
    Refusal,
    Signing,
    answer,
    answer_question,
    ask_organizers,
    may_ask,
    replied_to,
    sign_answer,
)
from storage.users import Profile, ensure_user, set_organizer

GROUP = -100_777
ORGANIZER, OTHER_ORGANIZER = 900, 901


async def person(db, user_id: int, **columns) -> int:
    await ensure_user(db, Profile(user_id, f"P{user_id}"))
    if columns:
        async with db.write() as session:
            await session.execute(update(User).where(User.id == user_id).values(**columns))
    return user_id


async def rows(db) -> list[Outbox]:
    async with db.read() as session:
        return list((await session.execute(select(Outbox).order_by(Outbox.id))).scalars())


async def test_only_people_the_campaign_knows_may_ask(db, frozen_clock):
    stranger = await person(db, 1)
    known = {
        "pending": await person(db, 2, volunteer_status="pending"),
        "approved": await person(db, 3, volunteer_status="approved"),
        "paused": await person(db, 4, volunteer_status="paused"),
        "invited": await person(db, 5, referred_by=2),
        "recruiter": await person(db, 6, recruits=1),
        "shift": await person(db, 7),
        "proxy": await person(db, 8),
        "pledge": await person(db, 9),
    }
    declined = await person(db, 10, volunteer_status="declined")
    forgotten = await person(db, 11, volunteer_status="approved", forgotten=True)
    async with db.write() as session:
        shift = Shift(room="Lyon", address="", starts_at=frozen_clock.now,
                      ends_at=frozen_clock.now, capacity=3)
        session.add(shift)
        await session.flush()
        session.add(ShiftSignup(shift_id=shift.id or 0, user_id=known["shift"]))
        session.add(ProxyRequest(kind="need", user_id=known["proxy"], commune_insee="69123",
                                 department="69", station="1", rounds_mask=1))
        session.add(Pledge(user_id=known["pledge"], names=["Ana"]))
    for why, user_id in known.items():
        assert (await may_ask(db, user_id, False)).refusal is None, why
    for user_id in (stranger, declined, forgotten, 12345):
        assert (await may_ask(db, user_id, False)).refusal == Refusal.UNKNOWN, user_id
        refused = await ask_organizers(db, user_id, False, "?", None, GROUP)
        assert refused.refusal == Refusal.UNKNOWN
    assert (await may_ask(db, stranger, True)).refusal is None  # an organizer by the config
    assert await rows(db) == []


async def test_five_questions_an_hour_even_sent_all_at_once(db, frozen_clock):
    camille = await person(db, 101, volunteer_status="approved")
    results = await asyncio.gather(*[
        ask_organizers(db, camille, False, f"Q{n}", None, GROUP) for n in range(8)])
    assert sorted(r.refusal is None for r in results) == [False] * 3 + [True] * 5
    assert all(r.refusal == Refusal.LIMIT for r in results if r.refusal is not None)
    assert len(await rows(db)) == ASKS_PER_HOUR
    check = await may_ask(db, camille, False)
    assert check.refusal == Refusal.LIMIT and check.again_at == frozen_clock.now.replace(
        hour=frozen_clock.now.hour + 1)
    frozen_clock.advance(hours=1)
    assert (await may_ask(db, camille, False)).refusal is None


async def test_questions_go_to_each_organizer_without_a_group(db, frozen_clock):
    camille = await person(db, 101, volunteer_status="approved")
    assert (await ask_organizers(db, camille, False, "Q", None, None)).refusal == Refusal.NOBODY
    await set_organizer(db, ORGANIZER, True, actor_id=None)
    await set_organizer(db, OTHER_ORGANIZER, True, actor_id=None)
    await person(db, OTHER_ORGANIZER, blocked=True)  # not asked: unreachable
    asked = await ask_organizers(db, camille, False, "Q", None, None)
    assert asked.refusal is None
    assert [(r.kind, r.chat_id, r.quiet_hours) for r in await rows(db)] == [
        ("relay_question", ORGANIZER, False)]


async def test_the_organizers_group_is_no_person_yet_its_questions_go(db, frozen_clock):
    camille = await person(db, 101, volunteer_status="approved")
    await ask_organizers(db, camille, False, "Q", None, GROUP)
    # Another kind to a negative id (an erased person's anonymous node) never goes.
    await outbox.enqueue(db, [Notice("broadcast:1:x", NoticeKind.BROADCAST, -5, {}, False)])
    await person(db, -5, forgotten=True)
    claimed = {d.kind: d for d in await outbox.claim_due(db, 10, messaging_open=True)}
    assert await outbox.mark_sending(db, claimed["relay_question"])
    assert not await outbox.mark_sending(db, claimed["broadcast"])
    await outbox.mark_sent(db, claimed["relay_question"], 77)
    found = await replied_to(db, GROUP, 77)
    assert found is not None and found.asker == Asker.FOUND and found.volunteer_id == camille
    assert await replied_to(db, GROUP, 78) is None  # organizers talking among themselves


async def test_relay_rows_go_ahead_of_a_broadcast_already_queued(db, frozen_clock):
    camille = await person(db, 101, volunteer_status="approved")
    await outbox.enqueue(db, [Notice(f"broadcast:1:{n}", NoticeKind.BROADCAST, n, {}, False)
                              for n in range(1000, 1050)])
    await ask_organizers(db, camille, False, "Q", None, GROUP)
    first = await outbox.claim_due(db, 1, messaging_open=True)
    assert [d.kind for d in first] == ["relay_question"]


@pytest.fixture
async def answered(db, frozen_clock) -> tuple[int, int]:
    """Camille's question, answered by the organizer: (volunteer, answer's relay id)."""
    camille = await person(db, 101, volunteer_status="approved")
    await set_organizer(db, ORGANIZER, True, actor_id=None)
    await person(db, ORGANIZER)
    relay_id = await answer_question(db, camille, ORGANIZER, "Yes.")
    assert relay_id is not None
    return camille, relay_id


async def test_only_the_author_signs_an_answer_and_once(db, answered):
    camille, relay_id = answered
    await set_organizer(db, OTHER_ORGANIZER, True, actor_id=None)
    assert (await sign_answer(db, relay_id, OTHER_ORGANIZER)).outcome == Signing.NOT_AUTHOR
    (queued,) = await outbox.claim_due(db, 10, messaging_open=True)
    await outbox.mark_sending(db, queued)
    await outbox.mark_sent(db, queued, 55)
    signed = await sign_answer(db, relay_id, ORGANIZER)
    assert signed.outcome == Signing.SIGNED
    assert (signed.chat_id, signed.message_id) == (camille, 55)
    assert signed.answer is not None and signed.answer.signer == "P900"
    assert (await sign_answer(db, relay_id, ORGANIZER)).outcome == Signing.ALREADY


async def test_an_answer_signed_before_it_left_goes_signed(db, answered):
    _camille, relay_id = answered
    signed = await sign_answer(db, relay_id, ORGANIZER)
    assert signed.outcome == Signing.SIGNED and signed.message_id is None
    rendered = await answer(db, relay_id)
    assert rendered is not None and rendered.signer == "P900"


async def test_an_answer_to_someone_who_blocked_the_bot_cannot_be_signed(db, answered):
    _camille, relay_id = answered
    (queued,) = await outbox.claim_due(db, 10, messaging_open=True)
    await outbox.mark_sending(db, queued)
    await outbox.mark_failed(db, queued, "blocked the bot")
    assert (await sign_answer(db, relay_id, ORGANIZER)).outcome == Signing.BLOCKED


async def test_no_answer_is_queued_for_someone_erased(db, frozen_clock):
    camille = await person(db, 101, volunteer_status="approved", forgotten=True)
    assert await answer_question(db, camille, ORGANIZER, "Yes.") is None
    assert await rows(db) == []


async def test_an_answer_that_never_arrived_tells_its_author_in_the_same_transaction(
        db, frozen_clock):
    camille = await person(db, 101, volunteer_status="approved")
    blocked = await answer_question(db, camille, ORGANIZER, "Yes.", reply=(GROUP, 5))
    lost = await answer_question(db, camille, ORGANIZER, "No.", reply=(GROUP, 6))
    first, second = await outbox.claim_due(db, 10, messaging_open=True)
    for delivery, error in ((first, "blocked the bot"),
                            (second, "network, may have arrived: timeout")):
        await outbox.mark_sending(db, delivery)
        await outbox.mark_failed(db, delivery, error)
    told = [r for r in await rows(db) if r.kind == "relay_undelivered"]
    # Only for the one that surely did not arrive; under the organizer's own message.
    assert [(r.chat_id, r.params["relay"], r.params["reply_to"], r.params["blocked"])
            for r in told] == [(GROUP, blocked, 5, True)]
    assert lost is not None


async def test_an_answer_written_in_an_organizers_own_chat_is_reported_there(db, frozen_clock):
    camille = await person(db, 101, volunteer_status="approved")
    relay_id = await answer_question(db, camille, ORGANIZER, "Yes.", reply=(ORGANIZER, 5))
    (delivery,) = await outbox.claim_due(db, 10, messaging_open=True)
    assert "reply_group" not in delivery.params and ORGANIZER not in delivery.params.values()
    await outbox.mark_sending(db, delivery)
    await outbox.mark_failed(db, delivery, "Bad Request: chat not found")
    (told,) = [r for r in await rows(db) if r.kind == "relay_undelivered"]
    assert (told.chat_id, told.params["relay"], told.params["blocked"]) == (
        ORGANIZER, relay_id, False)

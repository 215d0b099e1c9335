"""/forget as people live it, through the fake Bot API: nothing of the person is left, what
they held goes back to the others, and coming back through the same link counts once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import select

from handlers.forget import forget_conversations
from storage.models import ProxyKind, ProxyRequest
from storage.proxies import Place, Requester, answer, create_request, match_need, match_view
from storage.shifts import add_shift
from storage.users import Profile, ensure_user
from tests.conversation import ORGANIZER_ID
from tests.test_calling_conversation import PHONE, load_contacts, numbers_in, ready_volunteer
from tests.test_web_conversation import deliver_all, invite_code_of
from tests.traces import Someone, traces

ZEPHYRIN = Someone(7_301_234_567, "Zéphyrin", "Barbentane", "zephyrin_b", "+33699887766")
SAINT_DENIS_12 = Place("93066", "93", "12", "Seine-Saint-Denis 1")
ROUNDS = ["2024-06-30", "2024-07-07"]


async def test_rejoining_through_the_same_link_after_forget_does_not_count_twice(
        db, campaign, harness, frozen_clock):
    lisa = harness.person(101, "Lisa", "en")
    await lisa.send("/start")
    code = await invite_code_of(lisa)
    fabrice = harness.person(201, "Fabrice", "en")
    await fabrice.send(f"/start {code}")
    await deliver_all(harness)
    assert lisa.last().text == "🕸 Fabrice joined through you: 1 of 3!"

    await fabrice.send("/forget")
    await fabrice.press("Yes, erase")
    await fabrice.send(f"/start {code}")
    await deliver_all(harness)

    assert [m.text for m in lisa.chat() if "joined through you:" in m.text] == [
        "🕸 Fabrice joined through you: 1 of 3!"]  # not told again
    await lisa.send("/invite")
    assert "1 of your 3 so far: Fabrice" in lisa.last().text


async def test_the_referrer_is_told_even_when_the_bot_stops_right_after_the_join(
        db, campaign, harness, frozen_clock, monkeypatch):
    import handlers.invite

    lisa = harness.person(101, "Lisa", "en")
    await lisa.send("/start")
    code = await invite_code_of(lisa)
    attribute = handlers.invite.attribute_referral

    async def then_stop(*args, **kwargs):
        attributed = await attribute(*args, **kwargs)
        raise RuntimeError("the process stops here, the join committed")
        return attributed

    monkeypatch.setattr(handlers.invite, "attribute_referral", then_stop)
    harness.expect_errors = True
    await harness.person(201, "Fabrice", "en").send(f"/start {code}")
    monkeypatch.undo()

    await deliver_all(harness)  # the deliverer, after the restart
    assert lisa.sees("🕸 Fabrice joined through you: 1 of 3!")


async def test_forget_while_holding_a_card_a_full_shifts_place_a_proxy_and_a_question(
        db, campaign, harness, frozen_clock):
    z = ZEPHYRIN
    await load_contacts(db, campaign)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    lisa = harness.person(101, "Lisa", "en")
    await lisa.send("/start")
    code = await invite_code_of(lisa)
    zephyrin = harness.person(z.id, z.first_name, "en", username=z.username,
                              last_name=z.last_name)
    await zephyrin.send(f"/start {code}")
    await deliver_all(harness)
    await ready_volunteer(db, harness, z.id, z.first_name)
    # A card in hand.
    await zephyrin.send("/call")
    held = numbers_in(zephyrin)
    assert len(held) == 1
    # The last place of a shift.
    tomorrow = frozen_clock.now + timedelta(days=1)
    await add_shift(db, room="Lyon", address="1 quai Augagneur", starts_at=tomorrow,
                    ends_at=tomorrow + timedelta(hours=3), capacity=1, actor_id=ORGANIZER_ID)
    await zephyrin.send("/shifts")
    await zephyrin.press("Join")
    bruno = await ready_volunteer(db, harness, 103, "Bruno")
    await bruno.send("/shifts")
    assert "full" in bruno.last().text
    # A live proxy match: Zéphyrin carries Nadia's vote.
    await ensure_user(db, Profile(7_003, "Nadia"))
    await create_request(db, campaign, ProxyKind.OFFER, Requester(z.first_name, user_id=z.id),
                         SAINT_DENIS_12, ROUNDS)
    need = await create_request(db, campaign, ProxyKind.NEED, Requester("Nadia", user_id=7_003),
                                SAINT_DENIS_12, ROUNDS)
    match = await match_need(db, campaign, need)
    await answer(db, match, "need", True)
    await answer(db, match, "offer", True)
    # A question waiting for its answer.
    await zephyrin.send("/ask")
    await zephyrin.send("Where do I park?")
    await deliver_all(harness)
    question = organizer.last()
    assert "Zéphyrin asks" in question.text
    # Half-way through a dialogue: the pledge's names.
    await zephyrin.send("/invite")
    await zephyrin.press("remind 3 people to vote")
    assert await traces(db, z)

    await zephyrin.send("/forget")
    await zephyrin.press("Yes, erase")
    assert zephyrin.sees("your data is erased")

    # Nothing of them anywhere: not in any table, not in the conversation storage.
    assert await traces(db, z) == {}
    fsm = harness.dp.storage
    private = StorageKey(bot_id=harness.bot.id, chat_id=z.id, user_id=z.id)
    assert await fsm.get_state(private) is None and await fsm.get_data(private) == {}
    # The card goes back to the queue.
    await bruno.send("/call")
    assert held[0] in bruno.last().text
    # The shift's place is free for the next person.
    await bruno.send("/shifts")
    await bruno.press("Join")
    assert bruno.callback_answers()[-1]["text"] == (  # the place freed was the only one
        "✅ See you there! You took the last place: the shift is full.")
    # The other side of the proxy is back in the queue and finds someone else.
    async with db.read() as session:
        nadia = (await session.execute(select(ProxyRequest).where(
            ProxyRequest.user_id == 7_003))).scalar_one()
    assert nadia.status == "open"
    await create_request(db, campaign, ProxyKind.OFFER, Requester("Omar", user_id=7_004),
                         SAINT_DENIS_12, ROUNDS)
    rematch = await match_need(db, campaign, nadia.id)
    assert (await match_view(db, rematch)).offer.first_name == "Omar"
    # The organizers' late answer reaches nobody, and they are told so.
    seen_by_zephyrin = len(zephyrin.chat())
    await organizer.send("Behind the town hall.", reply_to=question)
    assert "erased their data" in organizer.last().text
    assert len(zephyrin.chat()) == seen_by_zephyrin
    assert not PHONE.findall(organizer.last().text)


async def test_a_recruit_erased_before_the_referrer_is_told_is_someone(db, campaign, harness,
                                                                      frozen_clock):
    lisa = harness.person(101, "Lisa", "en")
    await lisa.send("/start")
    code = await invite_code_of(lisa)
    fabrice = harness.person(201, "Fabrice", "en")
    await fabrice.send(f"/start {code}")
    await fabrice.send("/forget")
    await fabrice.press("Yes, erase")
    await deliver_all(harness)
    assert lisa.last().text == "🕸 Someone joined through you: 1 of 3!"


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_forget_pressed_anywhere_clears_the_private_conversation_too(kind):
    """State and data, in memory or in Redis (which keeps them forever): in the chat where
    /forget was pressed and in the private chat, where dialogues take place."""
    z = ZEPHYRIN.id
    storage = MemoryStorage() if kind == "memory" else RedisStorage.from_url(
        "redis://127.0.0.1:6379/13", key_builder=DefaultKeyBuilder(prefix="toile-forget-test"))
    private = FSMContext(storage, StorageKey(bot_id=42, chat_id=z, user_id=z))
    group = FSMContext(storage, StorageKey(bot_id=42, chat_id=-100500, user_id=z))
    try:
        await private.set_state("PledgeStates:names")
        await private.set_data({"card_messages": [7], "draft": ZEPHYRIN.first_name})
        await group.set_data({"draft": ZEPHYRIN.phone})

        await forget_conversations(group, z)

        for context in (private, group):
            assert await context.get_state() is None and await context.get_data() == {}
        if isinstance(storage, RedisStorage):
            assert await storage.redis.keys("toile-forget-test:*") == []
    finally:
        await storage.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_forget_in_private_clears_what_they_left_in_groups_and_nobody_elses(kind):
    """Zéphyrin began something in two groups (their state names him, in Redis forever),
    then sends /forget in private: his records in both groups go; Marc's in the same
    group, and the records of a user whose id ends like his, stay."""
    z, marc = ZEPHYRIN.id, 302
    storage = MemoryStorage() if kind == "memory" else RedisStorage.from_url(
        "redis://127.0.0.1:6379/13", key_builder=DefaultKeyBuilder(prefix="toile-forget-test"))

    def context(chat_id: int, user_id: int) -> FSMContext:
        return FSMContext(storage, StorageKey(bot_id=42, chat_id=chat_id, user_id=user_id))

    private, others = context(z, z), [context(-100500, marc), context(-100500, 1 + z * 10)]
    in_groups = [context(-100500, z), context(-100600, z)]
    try:
        for group in in_groups:
            await group.set_state("PledgeStates:names")
            await group.set_data({"draft": ZEPHYRIN.phone})
        for other in others:
            await other.set_state("PledgeStates:names")

        await forget_conversations(private, z)

        for group in in_groups:
            assert await group.get_state() is None and await group.get_data() == {}
        for other in others:
            assert await other.get_state() == "PledgeStates:names"
    finally:
        if isinstance(storage, RedisStorage):
            for name in await storage.redis.keys("toile-forget-test:*"):
                await storage.redis.delete(name)
        await storage.close()


async def test_forget_in_a_group_points_to_the_private_chat_and_erases_nobody(db, campaign,
                                                                             harness):
    from storage.models import User

    group = -100555
    lina = harness.person(301, "Lina", "en")
    marc = harness.person(302, "Marc", "en")
    await lina.send("/start")
    await marc.send("/start")
    await lina.send("/forget", in_chat=group)
    shown = harness.fake.chat(group)
    assert not any("Erase?" in m.text for m in shown)
    assert "open it in our private chat" in shown[-1].text
    # A "Yes, erase" pressed in the group (an old or forged button) erases nobody either.
    await marc.press_data("forget:1", shown[-1])
    async with db.read() as session:
        assert await session.get(User, 301) is not None
        assert await session.get(User, 302) is not None


async def test_a_stale_approve_after_forget_does_not_bring_the_person_back(db, campaign,
                                                                         harness):
    from storage.models import AuditLog, User

    camille = harness.person(101, "Camille", "en", username="camille_b")
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await camille.send("/start")
    await camille.press("I want to make calls")
    await deliver_all(harness)
    request = next(m for m in reversed(organizer.chat()) if "Camille" in m.text)
    await camille.send("/forget")
    await camille.press("Yes, erase my data")
    await organizer.press("Approve", request)
    async with db.read() as session:
        assert await session.get(User, 101) is None
        details = [e.detail for e in (await session.execute(select(AuditLog))).scalars()]
    assert not any("101" in d for d in details), details
    assert "erased their data" in organizer.chat()[-1].text


async def test_asking_to_make_calls_then_forgetting_leaves_no_id_in_the_organizers_alert(
        db, campaign, harness, frozen_clock):
    """Zéphyrin asks to make calls (each organizer is alerted, under a key naming him),
    then erases his data: nothing names him, the alerts' keys included."""
    z = ZEPHYRIN
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    zephyrin = harness.person(z.id, z.first_name, "en", username=z.username,
                              last_name=z.last_name)
    await zephyrin.send("/start")
    await zephyrin.press("I want to make calls")
    await deliver_all(harness)
    assert "would like to make calls" in organizer.last().text

    await zephyrin.send("/forget")
    await zephyrin.press("Yes, erase")
    assert zephyrin.sees("your data is erased")

    assert await traces(db, z) == {}


async def test_a_paused_volunteer_who_forgets_leaves_no_id_in_the_pause_alert(
        db, campaign, harness, frozen_clock):
    """Zéphyrin skips too many cards and is paused (the organizers are alerted), then
    erases his data: nothing names him, the alerts' keys included."""
    z = ZEPHYRIN
    await load_contacts(db, campaign)
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    zephyrin = await ready_volunteer(db, harness, z.id, z.first_name)
    for _ in range(campaign.skip_limit_per_hour):
        await zephyrin.send("/call")
        await zephyrin.press("Skip")
    await deliver_all(harness)
    assert "was paused" in organizer.last().text

    await zephyrin.send("/forget")
    await zephyrin.press("Yes, erase")
    assert zephyrin.sees("your data is erased")

    assert await traces(db, z) == {}

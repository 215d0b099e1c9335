"""The deliverer against a Bot API that fails: crashes, 403, 429, and its pace."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import build_deliverer
from bot.jobs import plan_web_messages_tick
from bot.telegram_retry import RetryMiddleware
from storage.models import Outbox
from storage.outbox import Notice, NoticeKind, enqueue
from storage.users import Profile, ensure_user, get_user
from storage.web import plan_nudges

JOINED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Paris


async def supporters_due_a_nudge(db, campaign, frozen_clock, count: int) -> list[int]:
    frozen_clock.now = JOINED
    ids = list(range(1000, 1000 + count))
    for uid in ids:
        await ensure_user(db, Profile(uid, f"S{uid}", language_code="en"))
    frozen_clock.now = JOINED + timedelta(days=1)
    assert await plan_nudges(db, campaign) == count
    return ids


def nudges_seen(harness, uid: int) -> int:
    return sum("Have you thought of three" in m.text for m in harness.fake.chat(uid))


async def rows(db) -> list[Outbox]:
    async with db.read() as session:
        return list((await session.execute(select(Outbox).order_by(Outbox.id))).scalars())


async def test_a_delivery_run_killed_half_way_sends_nobody_twice(db, campaign, harness,
                                                                frozen_clock):
    ids = await supporters_due_a_nudge(db, campaign, frozen_clock, 40)
    harness.dp["settings"].send_rate = 40.0
    fifteen_sent = asyncio.Event()
    send = harness.fake.api_sendMessage

    async def counting_send(params):
        result = await send(params)
        if len(harness.fake.sent("sendMessage")) >= 15:
            fifteen_sent.set()
        return result

    harness.fake.api_sendMessage = counting_send
    first = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(fifteen_sent.wait(), timeout=10)
    running.cancel()  # the process dies mid-batch
    await asyncio.gather(running, return_exceptions=True)
    at_crash = {r.chat_id: r.status for r in await rows(db)}
    assert "sending" in at_crash.values() or "claimed" in at_crash.values()

    sent_before_restart = {uid: nudges_seen(harness, uid) for uid in ids}

    frozen_clock.advance(minutes=2)  # the bot restarts; its scheduler ticks...
    await plan_web_messages_tick(db, harness.dp["campaigns"])
    second = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await second.run_once():  # ...and its deliverer sends what is left
        pass

    seen = {uid: nudges_seen(harness, uid) for uid in ids}
    assert max(seen.values()) == 1  # nobody got a second nudge
    final = {r.chat_id: r.status for r in await rows(db)}
    assert len(final) == 40  # planning again added no row
    for uid in ids:
        if at_crash[uid] == "sending":
            # Caught mid-call: it may have gone out, so it is never sent again. Its "sent"
            # mark may still land: on PostgreSQL a COMMIT already on the wire when the
            # task died is carried out by the server a moment later.
            assert seen[uid] == sent_before_restart[uid]
            assert final[uid] in ("sending", "sent")
        else:
            # Pending, or claimed without a call yet: sent now, exactly once. Unless, claimed,
            # its "sending" mark was itself the COMMIT on its way: then it is never sent.
            allowed = [("sent", 1)] + ([("sending", 0)] if at_crash[uid] == "claimed" else [])
            assert (final[uid], seen[uid]) in allowed

    # A quarter of an hour on, what the crash left mid-send is closed, never sent again.
    frozen_clock.advance(minutes=15)
    await plan_web_messages_tick(db, harness.dp["campaigns"])
    while await second.run_once():
        pass
    closed = {r.chat_id: (r.status, r.error) for r in await rows(db)}
    for uid in ids:
        if final[uid] == "sending":
            assert closed[uid] == ("failed", "interrupted while sending: may have arrived")
    assert {uid: nudges_seen(harness, uid) for uid in ids} == seen


async def test_a_database_error_in_one_round_spares_the_sends_on_their_way(
        db, campaign, harness, frozen_clock, monkeypatch):
    from bot import delivery
    from storage import outbox

    ids = await supporters_due_a_nudge(db, campaign, frozen_clock, 30)
    harness.dp["settings"].send_rate = 100.0  # rounds of 10
    send = harness.fake.api_sendMessage

    async def slow_send(params):  # Telegram taking its time: sends overlap the next round
        await asyncio.sleep(0.3)
        return await send(params)

    harness.fake.api_sendMessage = slow_send
    claim_due, claims = outbox.claim_due, itertools.count()

    async def failing_once(*args, **kwargs):
        if next(claims) == 1:
            raise OSError("disk I/O error")  # the second round's claim
        return await claim_due(*args, **kwargs)

    monkeypatch.setattr(delivery.outbox, "claim_due", failing_once)
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    deliverer.idle_seconds = 0.05
    running = asyncio.create_task(deliverer.run())
    try:
        for _ in range(200):
            if all(r.status == "sent" for r in await rows(db)):
                break
            await asyncio.sleep(0.05)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert [r.status for r in await rows(db)] == ["sent"] * 30
    assert [nudges_seen(harness, uid) for uid in ids] == [1] * 30
    assert [r.getMessage() for r in harness.errors.records] == ["delivery round failed"]
    harness.expect_errors = True


async def test_a_person_who_blocked_the_bot_is_marked_and_skipped(db, campaign, harness,
                                                                 frozen_clock):
    ids = await supporters_due_a_nudge(db, campaign, frozen_clock, 3)
    harness.fake.fail("sendMessage", 403)
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass
    blocked = [uid for uid in ids if (await get_user(db, uid)).blocked]
    assert len(blocked) == 1 and nudges_seen(harness, blocked[0]) == 0
    assert [nudges_seen(harness, uid) for uid in ids if uid not in blocked] == [1, 1]
    statuses = sorted(r.status for r in await rows(db))
    assert statuses == ["failed", "sent", "sent"]

    # Later messages to that person are not even attempted.
    await enqueue(db, [Notice("test:later", NoticeKind.NUDGE, blocked[0], {}, False)])
    calls = len(harness.fake.sent("sendMessage"))
    while await deliverer.run_once():
        pass
    assert len(harness.fake.sent("sendMessage")) == calls
    assert (await rows(db))[-1].status == "skipped"


async def test_a_429_pauses_every_send_then_each_message_arrives_once(db, campaign, harness,
                                                                     frozen_clock):
    ids = await supporters_due_a_nudge(db, campaign, frozen_clock, 6)
    harness.fake.fail("sendMessage", 429, retry_after=1)
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    started = asyncio.get_running_loop().time()
    while await deliverer.run_once():
        pass
    assert asyncio.get_running_loop().time() - started >= 1.0
    assert [nudges_seen(harness, uid) for uid in ids] == [1] * 6
    sends = harness.fake.sent("sendMessage")
    refused_at = sends[0].at
    # After the 429, nothing went out before retry_after had passed.
    assert all(call.at - refused_at >= 0.99 for call in sends[1:])


async def test_server_errors_are_retried_later_a_bounded_number_of_times(db, campaign, harness,
                                                                        frozen_clock):
    [uid] = await supporters_due_a_nudge(db, campaign, frozen_clock, 1)
    for middleware in harness.bot.session.middleware:  # the bot's own quick retries, quicker
        if isinstance(middleware, RetryMiddleware):
            middleware.server_error_backoff = 0.001
    harness.fake.fail("sendMessage", 502, times=100)
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    for _ in range(10):
        await deliverer.run_once()
        frozen_clock.advance(hours=1)
    [row] = await rows(db)
    assert row.status == "failed" and row.attempts == 5 and "Internal" in (row.error or "")
    assert nudges_seen(harness, uid) == 0


async def test_sending_is_paced_under_the_configured_rate(db, campaign, harness, frozen_clock):
    ids = await supporters_due_a_nudge(db, campaign, frozen_clock, 60)
    harness.dp["settings"].send_rate = 30.0
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass
    times = sorted(c.at for c in harness.fake.sent("sendMessage"))
    assert len(times) == len(ids)
    # Never faster than the rate over the run. (Arrivals in any one second are the
    # benchmark's business: on a loaded machine the network's jitter shifts them.)
    assert times[-1] - times[0] >= (len(times) - 1) / 30.0


async def test_with_paid_broadcasts_the_other_messages_keep_to_the_free_rate(
        db, campaign, harness, frozen_clock):
    ids = await supporters_due_a_nudge(db, campaign, frozen_clock, 30)
    harness.dp["settings"].send_rate = 500.0  # paid broadcasts: far above the free limit
    harness.dp["settings"].allow_paid_broadcast = True
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass
    times = sorted(c.at for c in harness.fake.sent("sendMessage"))
    assert len(times) == len(ids)
    assert times[-1] - times[0] >= (len(times) - 1) / 25.0  # nudges are not paid for
    assert not any(c.params.get("allow_paid_broadcast") for c in
                   harness.fake.sent("sendMessage"))


async def test_the_pacer_starts_at_most_the_rate_in_any_second_and_spaces_each_chat():
    from bot.delivery import Pacer
    from bot.telegram_retry import FloodGate

    pacer = Pacer(50.0, FloodGate())
    starts: list[float] = []
    for i in range(120):
        await pacer.slot(i % 40)  # forty chats, three messages each
        starts.append(time.monotonic())
    busiest = max(sum(1 for t in starts if begin <= t < begin + 1.0) for begin in starts)
    assert busiest <= 50
    by_chat: dict[int, list[float]] = {}
    for i, t in enumerate(starts):
        by_chat.setdefault(i % 40, []).append(t)
    assert min(b - a for ts in by_chat.values() for a, b in itertools.pairwise(ts)) >= 0.999


def test_every_kind_of_notice_has_exactly_one_renderer(harness):
    """The application builds its deliverer: every kind is rendered, none twice."""
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    assert set(deliverer.renderers) == set(NoticeKind)


def test_a_kind_without_renderer_or_with_two_fails_at_start():
    from storage.outbox import check_renderers

    async def render(delivery, person):
        return None

    everything = {kind: render for kind in NoticeKind if kind is not NoticeKind.SHIFT_FULL}
    with pytest.raises(ValueError, match="none for shift_full"):
        check_renderers({"all": everything})
    with pytest.raises(ValueError, match=r"two for nudge \(all, invite\)"):
        check_renderers({"all": {**everything, NoticeKind.SHIFT_FULL: render},
                         "invite": {NoticeKind.NUDGE: render}})
    with pytest.raises(ValueError):  # a mistyped kind is no kind at all
        check_renderers({"all": [*everything, "shift_ful"]})

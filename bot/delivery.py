"""The deliverer: sends the outbox's due rows, paced under Telegram's limits.

Each row is rendered in its recipient's language when its turn comes (a nudge shows the
progress of that moment), claimed before the API call and marked after it, so that a crash
never sends a row twice. Sending is paced: evenly spaced starts at the configured rate
(Telegram allows about 30 messages a second to different chats), never two to one chat
within a second, and a 429 anywhere stops every send for its `retry_after`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.utils.i18n import I18n

from bot.telegram_retry import FloodGate, flood_gate
from storage import outbox
from storage.campaign_cache import CampaignCache
from storage.campaigns import messaging_window
from storage.database import Database
from storage.models import Campaign
from storage.outbox import CAMPAIGN_MESSAGES, TO_GROUPS, UNSUBSCRIBABLE, Delivery, NoticeKind
from storage.silence import Silence, silence_in, silences
from storage.users import Person, get_users, group_chat, mark_blocked
from storage.web import reminder_stale
from ui.i18n import pick_locale
from ui.renderers import Renderers

log = logging.getLogger(__name__)



class Pacer:
    """Evenly spaced starts: at most `rate` a second with no burst, one chat at most once a
    second, and nothing while the flood gate is closed."""

    # Starts spaced 4 % wider than the rate leave about 38 ms a second to spare, at 96 %
    # of the rate. Half of it lets a start that is a little late keep its timetable (the
    # next ones catch up); the other half absorbs the network's jitter: requests reach
    # Telegram some milliseconds apart from when they left. Either way no second of
    # arrivals holds more than the rate.
    JITTER_MARGIN = 1.04

    def __init__(self, rate: float, gate: FloodGate, per_chat_seconds: float = 1.0) -> None:
        self.interval = self.JITTER_MARGIN / rate
        self.tolerance = (1.0 - 1.0 / self.JITTER_MARGIN) / 2  # seconds late, at most
        self.gate = gate
        self.per_chat_seconds = per_chat_seconds
        self.next_at = 0.0
        self.last_by_chat: dict[int, float] = {}

    async def slot(self, chat_id: int) -> None:
        await self.gate.wait()
        now = time.monotonic()
        at = max(self.next_at,
                 self.last_by_chat.get(chat_id, -self.per_chat_seconds) + self.per_chat_seconds)
        # A start a little behind its time goes at once, and the timetable holds: the loop
        # wakes a sleeper a millisecond late (epoll's resolution), which at 1,000 a second
        # would otherwise stretch every interval. Further behind than the margin covers,
        # the timetable moves on instead: catching up would be a burst.
        if now - at > self.tolerance:
            at = now
        self.next_at = at + self.interval
        self.last_by_chat[chat_id] = at
        if len(self.last_by_chat) > 10_000:  # only the last second matters
            self.last_by_chat = {c: t for c, t in self.last_by_chat.items()
                                 if t > now - self.per_chat_seconds}
        if at > now:
            await asyncio.sleep(at - now)
        # Woken later than the margin covers (a busy loop), the timetable moves on: the
        # sends behind a late one would otherwise catch up in a burst. A little lateness
        # (a millisecond or two, every time) stays inside the margin and costs no rate.
        started = time.monotonic()
        self.last_by_chat[chat_id] = started  # the actual start: the next waits a full second
        if started - at > self.tolerance:
            self.next_at = max(self.next_at, started + self.interval)


class Deliverer:
    ROUND_SECONDS = 0.1
    # Telegram's limit for a bot's messages, but for broadcasts it is paid to send faster.
    FREE_RATE = 25.0

    def __init__(self, bot: Bot, db: Database, campaigns: CampaignCache, i18n: I18n,
                 renderers: Renderers, *, rate: float = 25.0,
                 max_in_flight: int = 32, idle_seconds: float = 1.0,
                 paid_broadcasts: bool = False) -> None:
        self.paid_broadcasts = paid_broadcasts
        self.bot = bot
        self.db = db
        self.campaigns = campaigns
        self.i18n = i18n
        self.renderers = renderers
        self.rate = rate
        self.pacer = Pacer(rate, flood_gate(bot))
        # With paid broadcasts the configured rate may be far above the free limit: what is
        # not a paid broadcast (nudges, reminders, proxies) keeps to the free one as well.
        self.free_pacer = (Pacer(self.FREE_RATE, flood_gate(bot))
                           if paid_broadcasts and rate > self.FREE_RATE else None)
        # Half a second of sends on their way at once, at least 32: at 1,000 a second a
        # fixed 32 would cap the rate as soon as Telegram took over 32 ms to answer.
        self.in_flight = asyncio.Semaphore(max(max_in_flight, math.ceil(rate / 2)))
        self.idle_seconds = idle_seconds

    async def run_once(self) -> int:
        """Claim one round of due rows and send them. Returns how many were claimed."""
        async with asyncio.TaskGroup() as sends:
            return await self._round(sends)

    async def run(self) -> None:
        """Until cancelled: send what is due, rest a moment when nothing is. The next rows
        are claimed while the last sends are still on their way: waiting for those at every
        round would leave a gap in the pace each second."""
        while True:
            try:
                # A task group: if the deliverer is cancelled (shutdown), its sends stop with
                # it; rows claimed but never started come back on their own
                # (outbox.recover_stale_claims).
                async with asyncio.TaskGroup() as sends:
                    while True:
                        try:
                            claimed = await self._round(sends)
                        except Exception:
                            # Caught here, inside the group: escaping it, the error would
                            # cancel the sends on their way, leaving their rows `sending`.
                            log.exception("delivery round failed")
                            claimed = 0
                        if not claimed:
                            await asyncio.sleep(self.idle_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive anything else as well
                log.exception("delivery failed")
                await asyncio.sleep(self.idle_seconds)

    async def _round(self, sends: asyncio.TaskGroup) -> int:
        """Claim due rows (a tenth of a second's worth), pace their sends into `sends`."""
        campaign = await self.campaigns.get()
        periods = silences(campaign)  # once a round: asked again before each send
        # Small rounds: claiming a second's worth at 1,000 a second held the event loop for
        # 25 ms at once, long enough to make the pace slip.
        batch = await outbox.claim_due(
            self.db, max(1, math.ceil(self.rate * self.ROUND_SECONDS)),
            messaging_open=campaign is None or messaging_window(campaign).is_open,
            silent=silence_in(periods) is not None)
        # The recipients in one read, for their language and an early skip; whether a row
        # may still go is decided again right before its API call (outbox.mark_sending).
        people = await get_users(self.db, [delivery.chat_id for delivery in batch])
        for delivery in batch:
            if delivery.quiet_hours and campaign is not None:
                window = messaging_window(campaign)  # now: pacing takes time
                if not window.is_open:
                    await outbox.put_back(self.db, delivery, window.opens_at)
                    continue
            if not await self._lawful(delivery, campaign, periods):
                continue
            message = await self._render(delivery, self._recipient(delivery, people))
            if message is None:
                continue
            # A place among the sends in flight first: waited for after its slot, a send
            # would leave late, next to the following one.
            await self.in_flight.acquire()
            try:
                if self.free_pacer is not None and not self._paid(delivery):
                    await self.free_pacer.slot(delivery.chat_id)
                await self.pacer.slot(delivery.chat_id)
                task = sends.create_task(self._send(delivery, *message))
            except BaseException:
                self.in_flight.release()
                raise
            # Released when the task ends, even cancelled before it ever ran.
            task.add_done_callback(lambda _task: self.in_flight.release())
        return len(batch)

    async def _lawful(self, delivery: Delivery, campaign: Campaign | None,
                      periods: list[Silence]) -> bool:
        """A campaign message whose electoral silence began after its claim waits for the
        silence's end; a pledge reminder its round's silence overtook is stale, dropped."""
        if delivery.kind == NoticeKind.PLEDGE_REMINDER and reminder_stale(
                campaign, str(delivery.params.get("round", ""))):
            await outbox.mark_skipped(self.db, delivery, "stale: its round's silence began")
            return False
        silence = silence_in(periods) if delivery.kind in CAMPAIGN_MESSAGES else None
        if silence is not None:
            await outbox.put_back(self.db, delivery, silence.ends_at)
            return False
        return True

    @staticmethod
    def _recipient(delivery: Delivery, people: dict[int, Person]) -> Person | None:
        if delivery.chat_id < 0 and delivery.kind in TO_GROUPS and delivery.chat_id not in people:
            return group_chat(delivery.chat_id)  # the organizers' group: no person, no row
        return people.get(delivery.chat_id)

    async def _render(self, delivery: Delivery,
                      user: Person | None) -> tuple[str, dict[str, Any]] | None:
        if user is None or user.blocked or user.forgotten or (
                user.stopped and delivery.kind in UNSUBSCRIBABLE):
            await outbox.mark_skipped(self.db, delivery, "unreachable or unsubscribed")
            return None
        render = self.renderers.get(delivery.kind)
        if render is None:
            await outbox.mark_failed(self.db, delivery, f"no renderer for {delivery.kind}")
            return None
        try:
            with self.i18n.context(), self.i18n.use_locale(
                    pick_locale(user.language_code, self.i18n.default_locale)):
                message = await render(delivery, user)
        except Exception as exc:
            log.exception("could not render %s", delivery.key)
            await outbox.mark_failed(self.db, delivery, f"render: {exc}")
            return None
        if message is None:
            await outbox.mark_skipped(self.db, delivery, "no longer wanted")
        elif self._paid(delivery):
            message[1]["allow_paid_broadcast"] = True
        return message

    def _paid(self, delivery: Delivery) -> bool:
        return self.paid_broadcasts and delivery.kind == "broadcast"

    async def _send(self, delivery: Delivery, text: str, kwargs: dict[str, Any]) -> None:
        try:
            await self._send_and_mark(delivery, text, kwargs)
        except Exception:
            # One row's database hiccup must not stop the sends beside it. Its row stays
            # claimed (due again in a minute) or sending (never sent twice).
            log.exception("delivery of %s failed", delivery.key)

    async def _send_and_mark(self, delivery: Delivery, text: str,
                             kwargs: dict[str, Any]) -> None:
        try:
            if not await outbox.mark_sending(self.db, delivery):
                return
            sent = await self.bot.send_message(delivery.chat_id, text, **kwargs)
        except TelegramForbiddenError:
            await mark_blocked(self.db, delivery.chat_id)
            await outbox.mark_failed(self.db, delivery, "blocked the bot")
        except (TelegramRetryAfter, TelegramServerError) as exc:
            # Not carried out by Telegram: trying again later cannot duplicate it.
            await outbox.retry_later(self.db, delivery, str(exc))
        except TelegramNetworkError as exc:
            # It may have arrived: at most once means not again.
            await outbox.mark_failed(self.db, delivery, f"network, may have arrived: {exc}")
        except TelegramAPIError as exc:
            await outbox.mark_failed(self.db, delivery, str(exc))
        else:
            await outbox.mark_sent(self.db, delivery, sent.message_id)

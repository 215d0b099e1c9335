"""What the scheduler's ticks do. Each is safe to run twice, on any instance."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage.calling import expire_leases
from storage.campaign_cache import CampaignCache
from storage.campaigns import messaging_window
from storage.database import Database
from storage.outbox import close_interrupted_sends, recover_stale_claims
from storage.web import plan_nudges, plan_pledge_reminders

log = logging.getLogger(__name__)


async def expire_leases_tick(db: Database, campaigns: CampaignCache) -> None:
    """Take back cards left untouched. A volunteer paused for it is told, and so are the
    organizers: storage queues those messages with the pause."""
    try:
        rules = await campaigns.rules()
        if rules is None:
            return
        expired = await expire_leases(db, rules)
        if expired:
            log.info("took back %s cards left untouched", len(expired))
    except Exception:  # a tick must never kill the scheduler
        log.exception("lease expiry tick failed")


async def plan_web_messages_tick(db: Database, campaigns: CampaignCache) -> None:
    """Queue the nudges and eve-of-round reminders that are due; the deliverer sends them.
    Planned only inside messaging hours, so a day's nudge is never queued at night. Also
    hands out again what a dead deliverer had claimed without sending, and closes what it
    left mid-send."""
    try:
        await recover_stale_claims(db)
        await close_interrupted_sends(db)
        campaign = await campaigns.get()
        if campaign is None or not messaging_window(campaign).is_open:
            return
        nudges = await plan_nudges(db, campaign)
        reminders = await plan_pledge_reminders(db, campaign)
        if nudges or reminders:
            log.info("queued %s nudges; %s pledges considered for reminders", nudges, reminders)
    except Exception:  # a tick must never kill the scheduler
        log.exception("planning nudges and reminders failed")


async def proxy_tick(db: Database, campaigns: CampaignCache) -> None:
    """Vote proxies: end proposals unanswered for a day, match what is open, erase voter
    details the day after their campaign's last round, queue the day's reminders and
    summary, and ask the people near a need still unmatched after a day. Each step is one
    storage operation that queues its own messages: a step that fails loses nothing of the
    steps before it."""
    from storage import proxies

    try:
        await proxies.erase_voter_details(db)  # whatever campaign is active, if any
        campaign = await campaigns.get()
        if campaign is None:
            return
        await proxies.expire_proposals(db)
        await proxies.match_all(db, campaign)
        if messaging_window(campaign).is_open:
            await proxies.plan_proxy_reminders(db, campaign)
            # After the pass: a need it just matched is nobody's to ask about.
            await proxies.ask_nearby(db, campaign)
    except Exception:  # a tick must never kill the scheduler
        log.exception("proxy tick failed")


# Moves one broadcast's progress message; rendered by the application (bot.app), which
# knows the handlers: a tick needs nothing from them.
ProgressEditor = Callable[[int], Awaitable[None]]


async def broadcast_tick(db: Database, edit_progress: ProgressEditor,
                         edit_seconds: float = 5.0) -> None:
    """Start broadcasts whose time has come, finish those sent; then move their organizers'
    progress messages. The edits come after every change is committed and each is bounded:
    a refused, slow or flooded edit changes nothing of a broadcast, nor holds the next
    tick's starts (the next tick edits again)."""
    from storage.broadcasts import finish_if_done, progress_to_show, sending, start_due

    try:
        await start_due(db)
        for broadcast_id in await sending(db):
            await finish_if_done(db, broadcast_id)
        moving = await progress_to_show(db)
    except Exception:  # a tick must never kill the scheduler
        log.exception("broadcast tick failed")
        return
    for broadcast_id in moving:
        try:
            async with asyncio.timeout(edit_seconds):
                await edit_progress(broadcast_id)
        except TimeoutError:
            log.info("progress of broadcast %s: the edit took too long", broadcast_id)
        except Exception:
            log.exception("progress of broadcast %s could not be shown", broadcast_id)


async def shift_reminders_tick(db: Database, campaigns: CampaignCache) -> None:
    """The day before a shift (from 11:00): "Still coming?"; 30 minutes before: the address;
    once it is over, its roster to the organizers, to mark who came."""
    from storage.shifts import plan_shift_reminders

    try:
        campaign = await campaigns.get()
        await plan_shift_reminders(db, campaign.timezone if campaign else "Europe/Paris")
    except Exception:  # a tick must never kill the scheduler
        log.exception("shift reminders tick failed")

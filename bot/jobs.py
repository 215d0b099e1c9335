"""What the scheduler's ticks do. Each is safe to run twice, on any instance."""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape

from aiogram import Bot
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.campaign_cache import CampaignCache
from bot.keyboards import decision_keyboard
from bot.notify import notify_organizers
from storage import clock
from storage.calling import expire_leases
from storage.campaigns import messaging_window
from storage.database import Database
from storage.outbox import close_interrupted_sends, recover_stale_claims
from storage.users import get_user
from storage.web import plan_nudges, plan_pledge_reminders

log = logging.getLogger(__name__)


async def expire_leases_tick(bot: Bot, db: Database, campaigns: CampaignCache,
                             i18n: I18n) -> None:
    """Take back cards left untouched; tell organizers about volunteers paused for it."""
    try:
        rules = await campaigns.rules()
        if rules is None:
            return
        expired = await expire_leases(db, rules)
        for lease in expired:
            if not lease.paused:
                continue
            volunteer = await get_user(db, lease.volunteer_id)
            name = escape(volunteer.first_name) if volunteer else str(lease.volunteer_id)
            await notify_organizers(bot, db, i18n, lambda name=name, vid=lease.volunteer_id: (
                _("⚠️ {name} left many contacts unanswered in an hour and was paused. "
                  "Resume their calling?").format(name=name),
                {"reply_markup": decision_keyboard(vid, resume=True)}))
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
    details after the last round, and queue the day's reminders and summary."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from handlers.proxy import propose
    from storage.outbox import enqueue
    from storage.proxies import (
        PROPOSAL_HOURS,
        erase_voter_details,
        expire_proposals,
        live_matches_for_reminders,
        match_all,
        match_view,
    )
    from storage.users import organizers

    try:
        campaign = await campaigns.get()
        if campaign is None:
            return
        rows = []
        for match_id in await expire_proposals(db):
            view = await match_view(db, campaign, match_id)
            for side in (view.need, view.offer) if view else ():
                if side.user_id is not None:
                    rows.append((f"proxy-expired:{match_id}:{side.user_id}", "proxy_declined",
                                 side.user_id, {"match": match_id}, False))
        await propose(db, campaign, await match_all(db, campaign))
        await erase_voter_details(db, campaign)
        if messaging_window(campaign).is_open:
            tz = ZoneInfo(campaign.timezone)
            local = clock.utcnow().astimezone(tz)
            today = local.date()
            tomorrow = (today + timedelta(days=1)).isoformat()
            for view in await live_matches_for_reminders(db, campaign):
                proposed_on = (view.expires_at - timedelta(hours=PROPOSAL_HOURS)).astimezone(
                    tz).date()
                # Daily until registered, from the day after the instructions came.
                if (view.status == "confirmed" and view.need.user_id is not None
                        and proposed_on < today):
                    rows.append((f"proxy-register:{view.id}:{today}", "proxy_register_reminder",
                                 view.need.user_id, {"match": view.id}, True))
                if tomorrow in view.rounds and view.offer.user_id is not None:
                    rows.append((f"proxy-eve:{view.id}:{tomorrow}", "proxy_eve",
                                 view.offer.user_id, {"match": view.id}, True))
            if local.hour >= 18:
                rows += [(f"proxy-summary:{o.id}:{today}", "proxy_summary", o.id, {}, True)
                         for o in await organizers(db)]
        if rows:
            await enqueue(db, rows)
    except Exception:  # a tick must never kill the scheduler
        log.exception("proxy tick failed")


async def broadcast_tick(bot: Bot, db: Database, i18n: I18n) -> None:
    """Start broadcasts whose time has come; move their organizers' progress messages."""
    from handlers.broadcast import update_progress
    from storage.broadcasts import finish_if_done, sending, start_due

    try:
        await start_due(db)
        for broadcast_id in await sending(db):
            await finish_if_done(db, broadcast_id)
            await update_progress(bot, db, i18n, broadcast_id)
    except Exception:  # a tick must never kill the scheduler
        log.exception("broadcast tick failed")


async def shift_reminders_tick(db: Database, campaigns: CampaignCache) -> None:
    """The day before a shift (from 11:00): "Still coming?"; 30 minutes before: the address;
    once it is over, its roster to the organizers, to mark who came."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from storage.outbox import enqueue
    from storage.shifts import shifts_between, shifts_ended_between, signed_up
    from storage.users import organizers

    try:
        now = clock.utcnow()
        rows = []
        for shift in await shifts_between(db, now, now + timedelta(minutes=30)):
            rows += [(f"shift-soon:{shift.id}:{uid}", "shift_soon", uid, {"shift": shift.id},
                      False) for uid in await signed_up(db, shift.id or 0)]
        campaign = await campaigns.get()
        local = now.astimezone(ZoneInfo(campaign.timezone if campaign else "Europe/Paris"))
        if local.hour >= 11:
            tomorrow = local.date() + timedelta(days=1)
            start = datetime.combine(tomorrow, datetime.min.time(), tzinfo=local.tzinfo)
            for shift in await shifts_between(db, start.astimezone(ZoneInfo("UTC")),
                                              (start + timedelta(days=1)).astimezone(
                                                  ZoneInfo("UTC"))):
                rows += [(f"shift-eve:{shift.id}:{uid}", "shift_still_coming", uid,
                          {"shift": shift.id}, False) for uid in await signed_up(db,
                                                                                  shift.id or 0)]
        # A shift over (within the day): each organizer gets its roster to mark who came,
        # and each volunteer still down for it is asked whether they made it (an organizer
        # who called in it marks it on the roster instead).
        ended = await shifts_ended_between(db, now - timedelta(days=1), now)
        if ended:
            organizer_ids = {o.id for o in await organizers(db)}
            rows += [(f"shift-attendance:{shift.id}:{oid}", "shift_attendance", oid,
                      {"shift": shift.id}, False) for shift in ended for oid in organizer_ids]
            for shift in ended:
                rows += [(f"shift-came:{shift.id}:{uid}", "shift_did_you_come", uid,
                          {"shift": shift.id}, True)
                         for uid in await signed_up(db, shift.id or 0)
                         if uid not in organizer_ids]
        if rows:
            await enqueue(db, rows)
    except Exception:  # a tick must never kill the scheduler
        log.exception("shift reminders tick failed")

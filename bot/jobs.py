"""What the scheduler's ticks do. Each is safe to run twice, on any instance."""

from __future__ import annotations

import logging
from html import escape

from aiogram import Bot
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.campaign_cache import CampaignCache
from bot.keyboards import decision_keyboard
from bot.notify import notify_organizers
from storage.calling import expire_leases
from storage.campaigns import messaging_window
from storage.database import Database
from storage.outbox import recover_stale_claims
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
    hands out again what a dead deliverer had claimed without sending."""
    try:
        await recover_stale_claims(db)
        campaign = await campaigns.get()
        if campaign is None or not messaging_window(campaign).is_open:
            return
        nudges = await plan_nudges(db, campaign)
        reminders = await plan_pledge_reminders(db, campaign)
        if nudges or reminders:
            log.info("queued %s nudges; %s pledges considered for reminders", nudges, reminders)
    except Exception:  # a tick must never kill the scheduler
        log.exception("planning nudges and reminders failed")

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
from storage.database import Database
from storage.users import get_user

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

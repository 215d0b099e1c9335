"""/me: a volunteer's own calls, and the campaign's day."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from bot.campaign_cache import CampaignCache
from bot.filters import MenuButton
from bot.keyboards import outcome_label
from storage.database import Database
from storage.models import CALL_OUTCOMES
from storage.stats import calling_streak, volunteer_counts
from storage.users import Person


async def me(message: Message, db: Database, campaigns: CampaignCache, user: Person,
             i18n: I18n) -> None:
    campaign = await campaigns.get()
    if campaign is None:
        await message.answer(_("No campaign is running yet. Come back soon!"))
        return
    counts = await volunteer_counts(db, campaign, user.id)
    lines = [_("<b>Your calls</b>: {today} today, {total} in total.").format(
        today=counts.today_calls, total=counts.total_calls)]
    for outcome in CALL_OUTCOMES:
        if counts.total.get(outcome.value):
            lines.append(_("{label}: {today} today, {total} in total").format(
                label=outcome_label(outcome), today=counts.today.get(outcome.value, 0),
                total=counts.total[outcome.value]))
    streak = await calling_streak(db, campaign, user.id)
    if streak >= 2:
        lines.append(_("🔥 {days} days in a row of calls. Thank you!").format(days=streak))
    locale = i18n.current_locale
    lines += ["", _("📣 The campaign: {today} calls today, {morning} this morning.").format(
        today=format_decimal(counts.campaign_today, locale=locale),
        morning=format_decimal(counts.campaign_morning, locale=locale))]
    await message.answer("\n".join(lines))


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="me")
    router.message.register(me, Command("me"))
    router.message.register(me, MenuButton("👤 My calls"))
    return router

"""/web: organizers see the spider's web, in numbers and in a picture."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _

from handlers.doors import organizer_router
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.web import WebStats, web_stats
from ui.charts import web_growth_png
from ui.filters import active_campaign


def number(n: int) -> str:
    # A narrow no-break space groups thousands: French typography, and it reads in English.
    return f"{n:,}".replace(",", "\u202f")


def summary(stats: WebStats) -> str:
    lines = [
        _("🕸 <b>The spider's web</b>"),
        _("Supporters: {total} ({today} today)").format(
            total=number(stats.supporters), today=number(stats.today)),
        _("Came through a link: {n}; recruits per supporter: {r:.2f}").format(
            n=number(stats.recruited), r=stats.branching),
        _("Brought their three: {n}").format(n=number(stats.reached_goal)),
        _("Came after a call: {n} ({today} today)").format(
            n=number(stats.from_calls), today=number(stats.from_calls_today)),
        _("Generations: {n}").format(n=stats.depth),
    ]
    growth = list(stats.by_day.items())[-7:]
    if growth:
        lines.append(_("Joins per day: {days}").format(days=", ".join(
            f"{day:%d/%m} {number(n)}" for day, n in growth)))
    if stats.top:
        lines.append(_("Top recruiters: {people}").format(people=", ".join(
            f"{escape(name)} ({n})" for name, n in stats.top)))
    return "\n".join(lines)


async def web(message: Message, db: Database, campaigns: CampaignCache) -> None:
    campaign = await active_campaign(message, campaigns)
    if campaign is None:
        return
    stats = await web_stats(db, campaign)
    await message.answer(summary(stats))
    if stats.by_day_generation:
        png = await web_growth_png(stats, _("Joins per day, by generation"),
                                   _("generation {n}"), _("supporters in total"))
        await message.answer_photo(BufferedInputFile(png, filename="web.png"),
                                   caption=_("Joins per day, by generation"))


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = organizer_router("web")
    router.message.register(web, Command("web"))
    return router

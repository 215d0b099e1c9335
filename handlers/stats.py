"""/stats: the day's counts for the wall, with a chart of calls per hour by room."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import gettext as _

from handlers.doors import organizer_router
from handlers.web import number
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Outcome
from storage.silence import next_silence, silence_at
from storage.stats import organizer_stats
from ui.charts import calls_per_hour_png
from ui.filters import active_campaign
from ui.keyboards import outcome_label
from ui.silence import silence_line


async def stats_command(message: Message, db: Database, campaigns: CampaignCache) -> None:
    campaign = await active_campaign(message, campaigns)
    if campaign is None:
        return
    stats = await organizer_stats(db, campaign)
    lines = [
        _("📊 <b>Today</b>: {today} calls ({morning} this morning, {afternoon} this "
          "afternoon)").format(today=number(stats.today), morning=number(stats.morning),
                               afternoon=number(stats.afternoon)),
        _("Contacts left in the queue: {n}").format(n=number(stats.queue_left)) + (
            _(" ({n} of them waiting for calling hours where they live)").format(
                n=number(stats.waiting_local_hours)) if stats.waiting_local_hours else ""),
        _("Volunteers active now: {n}").format(n=stats.active_volunteers),
        _("Proxies matched: {n} · new supporters today: {m}").format(
            n=stats.proxies_matched, m=stats.new_supporters),
        _("Calls that became supporters: {today} today, {total} in all").format(
            today=number(stats.calls_joined_today), total=number(stats.calls_joined)),
    ]
    if stats.by_room:
        lines.append(_("By room: {rooms}").format(rooms=", ".join(
            f"{escape(room if room != 'remote' else _('remote'))} {number(n)}"
            for room, n in sorted(stats.by_room.items(), key=lambda kv: -kv[1]))))
    if (silence := next_silence(campaign)) is not None:
        lines.append(silence_line(campaign, silence) + (" " + _(
            "Now: campaign messages wait for its end and the phone bank is closed.")
            if silence_at(campaign) is not None else ""))
    if stats.by_outcome:
        lines.append(_("By outcome: {outcomes}").format(outcomes=", ".join(
            f"{outcome_label(Outcome(o))} {number(n)}"
            for o, n in sorted(stats.by_outcome.items(), key=lambda kv: -kv[1]))))
    await message.answer("\n".join(lines))
    if stats.by_hour_room:
        png = await calls_per_hour_png(
            {h: {(r if r != "remote" else _("remote")): n for r, n in rooms.items()}
             for h, rooms in stats.by_hour_room.items()}, _("Calls per hour today, by room"))
        await message.answer_photo(BufferedInputFile(png, filename="stats.png"),
                                   caption=_("Calls per hour today, by room"))


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = organizer_router("stats")
    router.message.register(stats_command, Command("stats"))
    return router

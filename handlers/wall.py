"""/wall: the link to the room's screen, today's figures live; `/wall revoke` replaces it.

The link is a secret (anyone who has it sees the wall), so it is given in a private chat
only, like the screens with personal data."""

from __future__ import annotations

import logging
from datetime import date
from html import escape
from urllib.parse import quote, urlencode

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.doors import organizer_router, personal_data_router
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Campaign
from storage.wall.figures import wall_rooms
from storage.wall.tokens import closes_at, is_over, revoke_wall, wall_token
from ui.filters import active_campaign
from ui.i18n import SUPPORTED

log = logging.getLogger(__name__)


def wall_link(base: str, token: str, **query: str) -> str:
    link = f"{base}/wall/{quote(token)}"
    return f"{link}?{urlencode(query)}" if query else link


def _last_round(campaign: Campaign) -> str:
    return f"{date.fromisoformat(campaign.rounds[-1]['date']):%d/%m/%Y}"


def wall_text(campaign: Campaign, base: str, token: str, rooms: list[str]) -> str:
    link = wall_link(base, token)
    lines = [
        _("🖥 <b>The wall</b>: today's figures, live, for the room's screen or projector. "
          "Nothing personal on it: counts, and the first names of the day's top callers "
          "(except those who left the rankings)."),
        escape(link),
    ]
    if rooms:
        lines.append(_("One room alone: {rooms}").format(rooms=" · ".join(
            f'<a href="{escape(wall_link(base, token, room=room))}">{escape(room)}</a>'
            for room in rooms)))
    lines.append(_("Language: {links}").format(links=" · ".join(
        f'<a href="{escape(wall_link(base, token, lang=lang))}">{lang}</a>'
        for lang in SUPPORTED)))
    lines.append(_("Anyone who has the link sees the wall: /wall revoke makes a new one, "
                   "and the old one stops working at once."))
    if closes_at(campaign) is not None:
        lines.append(_("The links stop working after the last round ({day}).").format(
            day=_last_round(campaign)))
    return "\n\n".join(lines)


async def wall_command(message: Message, command: CommandObject, db: Database,
                       campaigns: CampaignCache, wall_url: str | None) -> None:
    campaign = await active_campaign(message, campaigns)
    if campaign is None:
        return
    if wall_url is None:
        await message.answer(_("The wall's web server is not running (WEB_PORT=0, or its "
                               "port was taken at the start: the bot's log says which)."))
        return
    if is_over(campaign):
        await message.answer(_("The campaign's last round is over ({day}): its wall is "
                               "closed.").format(day=_last_round(campaign)))
        return
    actor = message.from_user.id if message.from_user else None
    revoking = (command.args or "").strip().lower() == "revoke"
    if revoking:
        token = await revoke_wall(db, campaign, actor)
    else:
        token = await wall_token(db, campaign, actor)
    text = wall_text(campaign, wall_url, token, await wall_rooms(db, campaign))
    if revoking:
        text = _("🔒 New link: the old one no longer works.") + "\n\n" + text
    button = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🖥 Open the wall"), url=wall_link(wall_url, token))]])
    try:
        await message.answer(text, reply_markup=button)
    except TelegramBadRequest:  # Telegram refuses buttons to some addresses (localhost)
        # Its description would quote the address, token and all: not logged.
        log.warning("Telegram refused the wall's button: the link goes without it")
        await message.answer(text)


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = organizer_router("wall")
    private = personal_data_router("wall")
    private.message.register(wall_command, Command("wall"))
    router.include_router(private)
    return router

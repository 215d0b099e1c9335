"""Filters shared by the routers."""

from __future__ import annotations

from typing import Any

from aiogram.enums import ChatType
from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from storage.campaign_cache import CampaignCache
from storage.models import Campaign
from ui.i18n import SUPPORTED


class MenuButton(BaseFilter):
    """A tap on a main-menu button, whatever the language it was drawn in."""

    def __init__(self, msgid: str) -> None:
        self.msgid = msgid

    async def __call__(self, message: Message) -> bool:
        if not message.text:
            return False
        i18n = get_i18n()
        return message.text in {i18n.gettext(self.msgid, locale=locale) for locale in SUPPORTED}


class IsOrganizer(BaseFilter):
    """The person is an organizer (PersonMiddleware says so). It guards whole routers, never
    a handler alone: the refusal router reads what those routers register."""

    async def __call__(self, _event: Any, is_organizer: bool = False) -> bool:
        return is_organizer


class PrivateChat(BaseFilter):
    """A message, or a press on a message, in a private chat.

    Written as a coroutine on purpose: aiogram runs a plain function filter, a magic
    `F.chat.type == ...` among them, in a worker thread, which cost a thread hop per update."""

    async def __call__(self, event: Message | CallbackQuery) -> bool:
        if isinstance(event, CallbackQuery):
            return event.message is not None and event.message.chat.type == ChatType.PRIVATE
        return event.chat.type == ChatType.PRIVATE


class PersonalData(PrivateChat):
    """A router whose screens show personal data (phone numbers, voter numbers, names with
    usernames): private chats only. In a group, the pointer router says where to look."""


async def active_campaign(message: Message, campaigns: CampaignCache) -> Campaign | None:
    """The active campaign for a command that needs one; without, a polite answer and None."""
    campaign = await campaigns.get()
    if campaign is None:
        await message.answer(_("No campaign is loaded yet."))
    return campaign

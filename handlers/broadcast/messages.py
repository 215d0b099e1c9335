"""A broadcast as its recipients see it: the organizer's text, a shift's Join button, the
campaign's footer with the way out. The deliverer's renderer, and the composer's preview."""

from __future__ import annotations

import time
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from handlers.shifts import ShiftCB, where_and_when
from storage import clock
from storage.broadcasts import MAX_TEXT, ToSend, broadcast_to_send, footer_length
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import BroadcastStatus, Campaign
from storage.outbox import Delivery, NoticeKind
from storage.shifts import ShiftView, shift_view
from storage.users import Person
from ui.renderers import Rendered, Renderers

# How long the renderer trusts what it read of a broadcast (see BroadcastRenderer).
FRESH = 1.0


def footer(campaign_name: str) -> str:
    return _("— {campaign} · /stop: no more messages").format(campaign=campaign_name)


def broadcast_message(text: str, campaign: Campaign,
                      shift: ShiftView | None) -> tuple[str, dict[str, Any]]:
    """The message exactly as recipients see it: the text, the shift's Join button if it
    has one, the campaign, the way out. A shift cancelled since the broadcast was written
    takes its button away, and says so where the length allows."""
    body, kwargs = text, {}
    if shift is not None and shift.shift.cancelled:
        note = _("🚫 The shift {shift} is cancelled.").format(
            shift=where_and_when(shift, campaign))
        if len(text) + len(note) + 2 + footer_length(footer(campaign.name)) <= MAX_TEXT:
            body = f"{text}\n\n{note}"
    elif shift is not None and shift.shift.ends_at > clock.utcnow():
        kwargs["reply_markup"] = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("✋ Join"), callback_data=ShiftCB(action="call_join",
                                                    shift=shift.shift.id or 0).pack())]])
    return f"{body}\n\n<i>{escape(footer(campaign.name))}</i>", kwargs


class BroadcastRenderer:
    """Reads a broadcast once a second, not once a recipient (a thousand a second for paid
    broadcasts): a cancel stops the rows already claimed anyway (outbox.mark_sending), and
    a Join pressed on a shift cancelled within that second says so."""

    def __init__(self, db: Database, campaigns: CampaignCache) -> None:
        self.db, self.campaigns = db, campaigns
        self.recent: dict[int, tuple[float, ToSend | None, ShiftView | None]] = {}

    async def __call__(self, delivery: Delivery, _user: Person) -> Rendered:
        broadcast_id = int(delivery.params["broadcast"])
        read_at, broadcast, shift = self.recent.get(broadcast_id, (-1.0, None, None))
        if time.monotonic() - read_at > FRESH:
            broadcast = await broadcast_to_send(self.db, broadcast_id)
            shift = (await shift_view(self.db, broadcast.shift_id)
                     if broadcast is not None and broadcast.shift_id is not None else None)
            self.recent.clear()  # one broadcast at a time, in practice
            self.recent[broadcast_id] = (time.monotonic(), broadcast, shift)
        campaign = await self.campaigns.get()
        if broadcast is None or broadcast.status == BroadcastStatus.CANCELLED or campaign is None:
            return None
        return broadcast_message(broadcast.text, campaign, shift)


def make_renderers(db: Database, campaigns: CampaignCache) -> Renderers:
    return {NoticeKind.BROADCAST: BroadcastRenderer(db, campaigns)}

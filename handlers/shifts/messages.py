"""What the deliverer sends about shifts, rendered when each message's turn comes: a message
whose moment has passed (the shift cancelled, the place freed, the person marked) renders
to None and is not sent."""

from __future__ import annotations

from functools import partial

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.shifts.places import ShiftCB
from handlers.shifts.roster import roster_screen
from handlers.shifts.texts import describe, where_and_when
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.outbox import Delivery, NoticeKind
from storage.shifts import ShiftView, shift_view, signed_up
from storage.users import Person
from ui.renderers import Rendered, Renderers


async def _live_shift(db: Database, delivery: Delivery) -> ShiftView | None:
    """The shift a message is about, unless it was cancelled since."""
    view = await shift_view(db, int(delivery.params["shift"]))
    return None if view is None or view.shift.cancelled else view


async def _still_down(db: Database, view: ShiftView, user: Person) -> bool:
    """Still holding a place, not marked by an organizer yet."""
    return user.id in await signed_up(db, view.shift.id or 0)


def _answers(view: ShiftView, *answers: tuple[str, str]) -> InlineKeyboardMarkup:
    """A reminder's answer buttons: (label, ShiftCB action) each, for this shift."""
    builder = InlineKeyboardBuilder()
    for label, action in answers:
        builder.button(text=label, callback_data=ShiftCB(action=action, shift=view.shift.id or 0))
    return builder.as_markup()


async def still_coming(db: Database, campaigns: CampaignCache, delivery: Delivery,
                       user: Person) -> Rendered:
    view = await _live_shift(db, delivery)
    if view is None or not await _still_down(db, view, user):
        return None
    markup = _answers(view, (_("Yes, I'm coming"), "yes"), (_("No, free my place"), "no"))
    return (_("📅 Tomorrow's shift: still coming?") + "\n" +
            describe(view, await campaigns.get()), {"reply_markup": markup})


async def soon(db: Database, campaigns: CampaignCache, delivery: Delivery,
               user: Person) -> Rendered:
    view = await _live_shift(db, delivery)
    if view is None or not await _still_down(db, view, user):
        return None
    return (_("⏰ Your shift starts in 30 minutes:") + "\n" +
            describe(view, await campaigns.get()), {})


async def attendance_due(db: Database, campaigns: CampaignCache, delivery: Delivery,
                         user: Person) -> Rendered:
    view = await _live_shift(db, delivery)
    if view is None or not user.is_organizer:
        return None
    screen = await roster_screen(db, view, await campaigns.get())
    return None if screen is None else (screen[0], {"reply_markup": screen[1]})


async def did_you_come(db: Database, campaigns: CampaignCache, delivery: Delivery,
                       user: Person) -> Rendered:
    view = await _live_shift(db, delivery)
    # Not asked of someone an organizer has marked already.
    if view is None or not await _still_down(db, view, user):
        return None
    markup = _answers(view, (_("✅ I came"), "came"), (_("❌ I couldn't come"), "missed"))
    return (_("🏁 The shift {shift} is over. Did you make it?").format(
        shift=where_and_when(view, await campaigns.get())), {"reply_markup": markup})


async def cancelled(db: Database, campaigns: CampaignCache, delivery: Delivery,
                    _user: Person) -> Rendered:
    view = await shift_view(db, int(delivery.params["shift"]))
    if view is None:
        return None
    return _("🚫 The shift {shift} is cancelled. Sorry! /shifts shows the others.").format(
        shift=where_and_when(view, await campaigns.get())), {}


async def full(db: Database, campaigns: CampaignCache, delivery: Delivery,
               _user: Person) -> Rendered:
    view = await _live_shift(db, delivery)
    if view is None or view.left > 0:  # a place freed since
        return None
    return _("✅ The shift {shift} is full: {taken} / {capacity}.").format(
        shift=where_and_when(view, await campaigns.get()), taken=view.taken,
        capacity=view.shift.capacity), {}


def make_renderers(db: Database, campaigns: CampaignCache) -> Renderers:
    return {kind: partial(render, db, campaigns) for kind, render in (
        (NoticeKind.SHIFT_STILL_COMING, still_coming),
        (NoticeKind.SHIFT_SOON, soon),
        (NoticeKind.SHIFT_ATTENDANCE, attendance_due),
        (NoticeKind.SHIFT_DID_YOU_COME, did_you_come),
        (NoticeKind.SHIFT_CANCELLED, cancelled),
        (NoticeKind.SHIFT_FULL, full))}

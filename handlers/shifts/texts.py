"""How a shift reads, wherever it shows (the list, a reminder, a broadcast), and what each
broken rule says."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _

from storage.models import Campaign
from storage.shifts import ShiftView


def error_text(reason: str) -> str:
    """The answer to a ShiftError's reason."""
    return {
        "past": _("That time has already passed."),
        "order": _("The end must come after the start, on the same day or night."),
        "capacity": _("The number of places is a whole number from 1 to 1000."),
        "text": _("That is too long (300 characters at most)."),
        "full": _("Sorry, this shift is full."),
        "cancelled": _("Sorry, this shift was cancelled."),
        "missing": _("This shift no longer exists."),
        "when": _("Please write a date and time such as 18/06 14:00."),
    }[reason]


def local_time(campaign: Campaign | None, moment: datetime) -> datetime:
    """A moment in the campaign's time zone."""
    return moment.astimezone(ZoneInfo(campaign.timezone if campaign else "Europe/Paris"))


def where_and_when(view: ShiftView, campaign: Campaign | None) -> str:
    shift = view.shift
    start, end = local_time(campaign, shift.starts_at), local_time(campaign, shift.ends_at)
    room = _("remote") if shift.room.lower() in ("remote", "à distance") else escape(shift.room)
    return f"<b>{room}</b> · {start:%d/%m %H:%M}–{end:%H:%M}"


def describe(view: ShiftView, campaign: Campaign | None) -> str:
    shift = view.shift
    places = (_("full") if view.left == 0 else _("{n} places left").format(n=view.left))
    text = f"{where_and_when(view, campaign)} · {places}"
    if shift.address:
        text += "\n" + escape(shift.address)
    if shift.note:
        text += "\n<i>" + escape(shift.note) + "</i>"
    return text

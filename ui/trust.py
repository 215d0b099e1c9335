"""What a volunteer not yet trusted reads when their cards for the hour or the day are done."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _

from storage import clock
from storage.models import Campaign


def card_limit_text(campaign: Campaign, until: datetime, daily: bool) -> str:
    tz = ZoneInfo(campaign.timezone)
    local = until.astimezone(tz)
    if local.date() == clock.utcnow().astimezone(tz).date():
        when = _("at {time}").format(time=local.strftime("%H:%M"))
    else:
        when = _("on {day} at {time}").format(day=local.strftime("%d/%m"),
                                              time=local.strftime("%H:%M"))
    if daily:
        limit = _("You have had your {n} cards of the day.").format(
            n=campaign.untrusted_cards_per_day)
    else:
        limit = _("You have had your {n} cards of the hour.").format(
            n=campaign.untrusted_cards_per_hour)
    return limit + " " + _(
        "New callers get up to {hour} an hour and {day} a day while they find their feet; "
        "you can go on {when}. Thank you for your calls!").format(
        hour=campaign.untrusted_cards_per_hour, day=campaign.untrusted_cards_per_day,
        when=when) + "\n\n" + _(
        "The limit goes by itself after {calls} calls without a pause, or sooner if an "
        "organizer trusts you: ask them with /ask.").format(calls=campaign.calls_to_trust)

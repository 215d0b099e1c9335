"""How the electoral silence is shown to organizers and volunteers."""

from __future__ import annotations

from html import escape

from aiogram.utils.i18n import gettext as _

from storage.models import Campaign
from storage.silence import Silence


def silence_line(campaign: Campaign, silence: Silence) -> str:
    start, end = silence.local(campaign)
    return _("🤫 Electoral silence of the {round}: from {start:%d/%m %H:%M} until the polls "
             "close on {end:%d/%m} at {end:%H:%M}.").format(
        round=escape(silence.round_name), start=start, end=end)


def calling_closed_text(campaign: Campaign, silence: Silence) -> str:
    _start, end = silence.local(campaign)
    return _("🤫 Calling is closed: electoral silence until {end:%d/%m} at {end:%H:%M}, when "
             "the polls close. The law forbids campaigning from midnight on the eve of the "
             "vote (Code électoral, art. L49). Thank you for every call until now!").format(
        end=end)

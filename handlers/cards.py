"""How a contact card reads on a volunteer's phone."""

from __future__ import annotations

from html import escape

from aiogram.utils.i18n import gettext as _

from storage.calling import Card
from storage.models import Campaign


def fill_script(script: str, volunteer: str, contact: str) -> str:
    # replace, not str.format: a brace typed in a script must not break the card.
    return script.replace("{volunteer}", volunteer).replace("{contact}", contact)


# A list's fields may reach 1,000 characters (a column mapped by mistake): a card shows
# the beginning of each, so that with the longest script and talking point a campaign may
# load (storage/campaigns.py) it stays within Telegram's 4,096.
NAME_SHOWN = 64
PLACE_SHOWN = 80
SOURCE_SHOWN = 100


def clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1].rstrip() + "…"


def contact_name(first_name: str | None) -> str:
    """The contact's first name as a card or its outcome shows it, escaped."""
    return escape(clip(first_name, NAME_SHOWN)) if first_name else _("(no first name)")


def card_text(card: Card, campaign: Campaign, volunteer_name: str,
              talking_point: int | None = None) -> str:
    lines = [f"👤 <b>{contact_name(card.first_name)}</b>", f"📞 {card.phone}"]
    place = " · ".join(escape(clip(p, PLACE_SHOWN)) for p in (card.constituency, card.commune)
                       if p)
    if place:
        lines.append(f"📍 {place}")
    if card.source:
        lines.append("ℹ️ " + _("Source of this number: {source}").format(
            source=escape(clip(card.source, SOURCE_SHOWN))))
    if card.attempts:
        lines.append("🔁 " + _("Attempt {number}").format(number=card.attempts + 1))
    script = fill_script(campaign.script, clip(volunteer_name, NAME_SHOWN),
                         clip(card.first_name or "", NAME_SHOWN))
    lines += ["", f"<i>{escape(script)}</i>"]
    points = campaign.talking_points
    if talking_point is not None and 0 <= talking_point < len(points):
        point = points[talking_point]
        lines += ["", f"💬 <b>{escape(point['title'])}</b>", escape(point["text"])]
    return "\n".join(lines)


def recorded_text(first_name: str | None, label: str) -> str:
    """The card once recorded: the number is gone from the chat."""
    return _("{name}: {outcome}. Recorded, thank you!").format(name=contact_name(first_name),
                                                               outcome=label)

"""How a contact card reads on a volunteer's phone."""

from __future__ import annotations

from html import escape

from aiogram.utils.i18n import gettext as _

from storage.calling import Card
from storage.models import Campaign


def fill_script(script: str, volunteer: str, contact: str) -> str:
    # replace, not str.format: a brace typed in a script must not break the card.
    return script.replace("{volunteer}", volunteer).replace("{contact}", contact)


def card_text(card: Card, campaign: Campaign, volunteer_name: str,
              talking_point: int | None = None) -> str:
    name = card.first_name or _("(no first name)")
    lines = [f"👤 <b>{escape(name)}</b>", f"📞 {card.phone}"]
    place = " · ".join(escape(p) for p in (card.constituency, card.commune) if p)
    if place:
        lines.append(f"📍 {place}")
    if card.source:
        lines.append("ℹ️ " + _("Source of this number: {source}").format(source=escape(card.source)))
    if card.attempts:
        lines.append("🔁 " + _("Attempt {number}").format(number=card.attempts + 1))
    script = fill_script(campaign.script, volunteer_name, card.first_name or "")
    lines += ["", f"<i>{escape(script)}</i>"]
    points = campaign.talking_points
    if talking_point is not None and 0 <= talking_point < len(points):
        point = points[talking_point]
        lines += ["", f"💬 <b>{escape(point['title'])}</b>", escape(point["text"])]
    return "\n".join(lines)


def recorded_text(first_name: str | None, label: str) -> str:
    """The card once recorded: the number is gone from the chat."""
    name = escape(first_name or _("(no first name)"))
    return _("{name}: {outcome}. Recorded, thank you!").format(name=name, outcome=label)

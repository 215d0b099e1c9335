"""The wall's page: one HTML file for a projector, its style and script inlined (nothing
to fetch but the figures: no CDN, no font, it works on a room's network with the bot
alone), its words from the catalogs in the language asked for."""

from __future__ import annotations

import json
import re
from functools import cache
from html import escape
from importlib import resources
from urllib.parse import quote

from aiogram.utils.i18n import I18n

from storage.models import Campaign
from ui.i18n import N_

# What the script shows, by key: translated once per page, handed to it as JSON.
TEXTS = {
    "today": N_("calls today"),
    "morning": N_("this morning"),
    "afternoon": N_("this afternoon"),
    "goal": N_("goal: {n}"),
    "rooms": N_("Rooms"),
    "remote": N_("remote"),
    "per_hour": N_("Calls per hour"),
    "proxies": N_("proxies matched today"),
    "proxies_total": N_("{n} in all"),
    "joined": N_("joined today"),
    "web": N_("{n} supporters in the web"),
    "from_calls": N_("{n} of them after a call"),
    "said_yes": N_("calls ended on a yes"),
    "said_yes_note": N_("will vote, will volunteer, a proxy"),
    "top": N_("Today's top callers"),
    "a_volunteer": N_("a volunteer"),
    "no_calls": N_("No call yet today: the first one is on its way."),
    "milestone_calls": N_("{n} calls today!"),
    "milestone_proxies": N_("{n} proxies matched!"),
    "updated": N_("updated at {time}"),
    "offline": N_("Connection lost: reconnecting…"),
    "gone": N_("This link no longer works. Ask an organizer for the new one (/wall in "
               "the bot)."),
    "whole_campaign": N_("the whole campaign"),
}
TITLE = N_("The wall")
# A page with a sentence and no figure: a style of its own, small.
_MESSAGE_STYLE = ("html,body{margin:0;height:100%;background:#10131a;color:#f4f1ea;"
                  "font:3.2vw system-ui,sans-serif}body{display:flex;align-items:center;"
                  "justify-content:center;text-align:center;line-height:1.5;padding:0 6vw}"
                  "a{color:#ff5c4d}")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@cache
def _asset(name: str) -> str:
    return (resources.files("bot.wall") / "static" / name).read_text(encoding="utf-8")


def texts(i18n: I18n, lang: str) -> dict[str, str]:
    return {key: i18n.gettext(msgid, locale=lang) for key, msgid in TEXTS.items()}


def _json_for_script(value: object) -> str:
    # Inside <script>: no "</script>" or "<!--" can come out of the data.
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def wall_page(i18n: I18n, lang: str, campaign: Campaign, token: str, room: str | None) -> str:
    # Relative to the page's own address (/wall/<token>), so that a reverse proxy may put
    # it under a path of its own.
    config = {"lang": lang, "room": room, "texts": texts(i18n, lang),
              "events": f"{quote(token)}/events", "figures": f"{quote(token)}/figures.json"}
    title = f"{i18n.gettext(TITLE, locale=lang)} · {campaign.name}"
    values = {"lang": escape(lang), "title": escape(title), "campaign": escape(campaign.name),
              "room": escape(room or ""), "style": _asset("wall.css"),
              "config": _json_for_script(config), "script": _asset("wall.js")}
    # One pass: a value (a campaign's name) cannot bring a placeholder of its own.
    return _PLACEHOLDER.sub(lambda m: values[m[1]], _asset("wall.html"))


def _message_page(lang: str, title: str, body: str) -> str:
    return (f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_MESSAGE_STYLE}</style></head>"
            f"<body><p>{body}</p></body></html>")


def gone_page(i18n: I18n, lang: str) -> str:
    """A wrong, revoked or expired link: what to do, and no figure."""
    return _message_page(lang, i18n.gettext(TITLE, locale=lang),
                         escape(i18n.gettext(TEXTS["gone"], locale=lang)))


def no_room_page(i18n: I18n, lang: str, room: str, rooms: list[str]) -> str:
    links = " · ".join(f'<a href="?room={quote(r)}&amp;lang={quote(lang)}">{escape(r)}</a>'
                       for r in rooms)
    text = escape(i18n.gettext(N_("No room called “{room}” here."), locale=lang).format(
        room=room))
    if rooms:
        text += "<br>" + escape(i18n.gettext(N_("The rooms:"), locale=lang)) + " " + links
    text += (f'<br><a href="?lang={quote(lang)}">'
             f"{escape(i18n.gettext(N_('All rooms'), locale=lang))}</a>")
    return _message_page(lang, i18n.gettext(TITLE, locale=lang), text)

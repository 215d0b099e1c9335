"""The sandbox's web chat page: a phone-sized Telegram chat for each person of the cast,
live from the Bot API stand-in (server-sent events), writing and tapping as that person.

Interface for the sandbox's lifecycle (kept stable):

    add_page(app, standin, *, hints, on_reset, wall_url) -> None
        hints():    per person id, notes shown at the top of their chat:
                    [{"text": "Lisa sent you her invite link:", "link": "https://t.me/..."}]
                    (a t.me/<bot>?start= link opens as that person, as Telegram does)
        on_reset(): "Start again": the stand-in is cleared first, then this resets the
                    database and restarts the bot (which registers its commands again);
                    the page then forgets its newcomers and every screen reloads
        wall_url(): the wall's address, or None (no link shown)

Routes: GET / (the page), GET /sandbox/state, GET /sandbox/events (the stream),
GET /sandbox/file/{chat}/{message}, POST /sandbox/send, /sandbox/press, /sandbox/people,
/sandbox/share, /sandbox/reset. Every input is checked: a 400 says what was wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.sandbox.cast import MAX_NAME, Member, People
from bot.sandbox.stream import stream_events
from bot.sandbox.texts import TEXTS, language
from bot.sandbox.views import person_view
from bot.standin import StandIn

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
MAX_TEXT = 4096  # what Telegram lets a person write in one message
MAX_BODY = 16 * 1024
MAX_NEWCOMERS = 50
MAX_SHARED = 20  # notes kept per person

Hints = Callable[[], Awaitable[dict[int, list[dict[str, str]]]]]
KEY: web.AppKey[Page] = web.AppKey("sandbox_page")


class Refused(web.HTTPBadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(text=json.dumps({"error": reason}), content_type="application/json")


@dataclass
class Page:
    standin: StandIn
    hints: Hints
    on_reset: Callable[[], Awaitable[None]]
    wall_url: Callable[[], Awaitable[str | None]]
    people: People = field(default_factory=People)
    shared: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    resetting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def person(self, value: Any) -> Member:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise Refused("person: a person's id is expected")
        try:
            member = self.people.get(int(value))
        except ValueError:
            member = None
        if member is None:
            raise Refused(f"person: {str(value)[:20]!r} is nobody in this sandbox")
        return member


def add_page(app: web.Application, standin: StandIn, *, hints: Hints,
             on_reset: Callable[[], Awaitable[None]],
             wall_url: Callable[[], Awaitable[str | None]]) -> None:
    """The page's routes in the application that also serves the stand-in's API."""
    app[KEY] = Page(standin, hints, on_reset, wall_url)
    app.router.add_get("/", index)
    app.router.add_static("/sandbox/static", STATIC, append_version=True)
    app.router.add_get("/sandbox/state", state)
    app.router.add_get("/sandbox/events", events)
    app.router.add_get(r"/sandbox/file/{chat:-?\d{1,15}}/{message:\d{1,15}}", file)
    app.router.add_post("/sandbox/send", send)
    app.router.add_post("/sandbox/press", press)
    app.router.add_post("/sandbox/people", add_person)
    app.router.add_post("/sandbox/share", share)
    app.router.add_post("/sandbox/reset", reset)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refused("the request is too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Refused("the request is too large")
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refused("the request is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("the request is not a JSON object")
    return body


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"{name}: a text is expected")
    if len(value) > limit:
        raise Refused(f"{name}: at most {limit} characters")
    return value


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def state(request: web.Request) -> web.Response:
    page = request.app[KEY]
    lang = language(request.query.get("lang"), request.headers.get("Accept-Language"))
    hints = await _hints(page)
    return web.json_response({
        "lang": lang, "texts": TEXTS[lang], "bot": page.standin.username,
        "wall_url": await _wall(page),
        "people": [{**person_view(page.standin, m),
                    "hints": hints.get(m.id, []) + page.shared.get(m.id, [])}
                   for m in page.people.all()],
    })


async def _hints(page: Page) -> dict[int, list[dict[str, str]]]:
    try:
        return await page.hints()
    except Exception:  # the page still shows the chats without its notes
        log.exception("the sandbox's hints failed")
        return {}


async def _wall(page: Page) -> str | None:
    try:
        return await page.wall_url()
    except Exception:
        log.exception("the sandbox's wall address failed")
        return None


async def events(request: web.Request) -> web.StreamResponse:
    page = request.app[KEY]
    return await stream_events(request, page.standin, page.people.all)


async def file(request: web.Request) -> web.Response:
    page = request.app[KEY]
    member = page.person(request.match_info["chat"])
    shown = page.standin.chats.get(member.id, {}).get(int(request.match_info["message"]))
    if shown is None or shown.file is None:
        raise web.HTTPNotFound(text="no such file in this chat")
    stored = shown.file
    disposition = "inline" if shown.kind == "photo" else "attachment"
    safe = "".join(c for c in stored.filename if c.isalnum() or c in "._-")[:100] or "file"
    return web.Response(body=stored.data, content_type=stored.mime_type or
                        "application/octet-stream",
                        headers={"Content-Disposition": f'{disposition}; filename="{safe}"',
                                 "X-Content-Type-Options": "nosniff"})


async def send(request: web.Request) -> web.Response:
    page = request.app[KEY]
    body = await _body(request)
    member = page.person(body.get("person"))
    text = _text(body, "text", MAX_TEXT)
    reply_to = body.get("reply_to")
    if reply_to is not None:
        if not isinstance(reply_to, int) or reply_to not in page.standin.chats.get(
                member.id, {}):
            raise Refused("reply_to: no such message in this chat")
    page.standin.say(member.user(), text, reply_to=reply_to)
    return web.json_response({"ok": True})


async def press(request: web.Request) -> web.Response:
    page = request.app[KEY]
    body = await _body(request)
    member = page.person(body.get("person"))
    message_id, data = body.get("message"), body.get("data")
    shown = (page.standin.chats.get(member.id, {}).get(message_id)
             if isinstance(message_id, int) else None)
    if shown is None:
        raise Refused("message: no such message in this chat")
    if not isinstance(data, str) or data not in {
            b.get("callback_data") for b in shown.buttons() if isinstance(b, dict)}:
        raise Refused("data: this message has no such button")
    page.standin.press(member.user(), shown, data)
    return web.json_response({"ok": True})


async def add_person(request: web.Request) -> web.Response:
    page = request.app[KEY]
    body = await _body(request)
    name = " ".join(_text(body, "first_name", MAX_NAME).split())
    lang = body.get("language_code", "fr")
    if lang not in TEXTS:
        raise Refused("language_code: 'fr' or 'en'")
    if len(page.people.all()) - len(page.people.cast) >= MAX_NEWCOMERS:
        raise Refused(f"at most {MAX_NEWCOMERS} new people: start again for more")
    member = page.people.add(name, lang)
    return web.json_response({"id": member.id, "first_name": member.first_name})


async def share(request: web.Request) -> web.Response:
    """A person sends a link to another (Telegram's share sheet): it shows at the top of
    the other's chat, a start link there opening as them."""
    page = request.app[KEY]
    body = await _body(request)
    sender, to = page.person(body.get("person")), page.person(body.get("to"))
    if sender.id == to.id:
        raise Refused("to: someone else is expected")
    link = _text(body, "link", 1024)
    if not link.startswith(("https://", "http://", "tg://")):
        raise Refused("link: a web or Telegram address is expected")
    text = body.get("text") if isinstance(body.get("text"), str) else ""
    notes = page.shared.setdefault(to.id, [])
    notes.append({"from": sender.first_name, "text": str(text)[:500], "link": link})
    del notes[:-MAX_SHARED]
    return web.json_response({"ok": True})


async def reset(request: web.Request) -> web.Response:
    page = request.app[KEY]
    if page.resetting.locked():
        raise Refused("already starting again")
    async with page.resetting:
        page.standin.reset()
        page.people.forget_newcomers()
        page.shared.clear()
        try:
            await page.on_reset()
        except Exception:
            log.exception("the sandbox could not start again")
            return web.json_response({"error": "could not start again: see the log"},
                                     status=500)
    return web.json_response({"ok": True})

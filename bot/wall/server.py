"""The wall's web server: the page, its stream of figures, and the figures as JSON.

    GET /wall/{token}               the page (?lang=fr|en, ?room=Saint-Denis)
    GET /wall/{token}/events        server-sent events: the figures at each change
    GET /wall/{token}/figures.json  the latest figures

A wrong, revoked or expired token is a 404 with no figure. No access log: the token is in
every path, and must never be written down (nor in the errors logged: bot.wall.logs)."""

from __future__ import annotations

import asyncio
import logging

from aiogram.utils.i18n import I18n
from aiohttp import web

from bot.config import Settings
from bot.wall.hub import Feed, Hub, TooManyScreens, encode
from bot.wall.logs import server_logger
from bot.wall.page import gone_page, no_room_page, wall_page
from storage.database import Database
from storage.models import Campaign
from storage.wall.figures import REMOTE, wall_rooms
from storage.wall.tokens import open_wall
from ui.i18n import SUPPORTED, make_i18n

log = logging.getLogger(__name__)

HUB = web.AppKey("hub", Hub)
I18N = web.AppKey("i18n", I18n)
TOKEN_MAX = 64
RETRY_MS = 3000  # how soon a page reconnects after the bot restarts
KEEPALIVE_SECONDS = 15.0  # a comment now and then, so that no proxy closes a quiet stream
WRITE_SECONDS = 10.0  # a screen that cannot take a few bytes in that long is dropped
ROOM_MAX = 60
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex", "X-Content-Type-Options": "nosniff"}
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")


def _language(request: web.Request) -> str:
    lang = request.query.get("lang", "")
    return lang if lang in SUPPORTED else request.app[I18N].default_locale


async def _campaign(request: web.Request) -> Campaign | None:
    token = request.match_info.get("token", "")
    if not token or len(token) > TOKEN_MAX:
        return None
    hub = request.app[HUB]
    return await open_wall(hub.db, token)


def _not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text=gone_page(request.app[I18N], _language(request)),
                        content_type="text/html", headers=_HEADERS)


async def page(request: web.Request) -> web.Response:
    campaign = await _campaign(request)
    if campaign is None:
        return _not_found(request)
    i18n, lang = request.app[I18N], _language(request)
    room = request.query.get("room", "").strip()[:ROOM_MAX + 1] or None
    if room is not None:
        rooms = await wall_rooms(request.app[HUB].db, campaign)
        if room not in rooms and room != REMOTE:
            return web.Response(status=404, text=no_room_page(i18n, lang, room, rooms),
                                content_type="text/html", headers=_HEADERS)
    html = wall_page(i18n, lang, campaign, request.match_info["token"], room)
    return web.Response(text=html, content_type="text/html",
                        headers={**_HEADERS, "Content-Security-Policy": _CSP})


async def figures(request: web.Request) -> web.Response:
    campaign = await _campaign(request)
    if campaign is None:
        return web.json_response({"error": "not found"}, status=404, headers=_HEADERS)
    try:
        async with request.app[HUB].listen(request.match_info["token"], campaign) as feed:
            await _first(feed)
            if feed.gone:
                return web.json_response({"error": "not found"}, status=404, headers=_HEADERS)
            body = feed.figures
    except TooManyScreens:
        return web.json_response({"error": "busy"}, status=503, headers=_HEADERS)
    if not body:
        return web.json_response({"error": "busy"}, status=503, headers=_HEADERS)
    return web.Response(body=body, content_type="application/json", headers=_HEADERS)


FIRST_SECONDS = 10.0


async def _first(feed: Feed) -> None:
    """Until the feed has figures (the first tick of a new feed) or is gone."""
    while not feed.figures and not feed.gone:
        try:
            await asyncio.wait_for(feed.changed.wait(), FIRST_SECONDS)
        except TimeoutError:
            return


async def events(request: web.Request) -> web.StreamResponse:
    campaign = await _campaign(request)
    if campaign is None:
        return web.Response(status=404, text="not found", headers=_HEADERS)
    hub = request.app[HUB]
    try:
        async with hub.listen(request.match_info["token"], campaign) as feed:
            response = web.StreamResponse(headers={
                **_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
            await response.prepare(request)
            await _stream(response, feed, hub)
            return response
    except TooManyScreens:  # the page tries again later
        return web.Response(status=503, text="too many screens", headers=_HEADERS)


async def _stream(response: web.StreamResponse, feed: Feed, hub: Hub) -> None:
    shown = -1
    try:
        await _write(response, f"retry: {RETRY_MS}\n\n".encode())
        while not hub.closing:
            if feed.gone:
                await _write(response, encode("gone", {}))
                return
            if feed.version != shown and feed.event:
                shown = feed.version
                await _write(response, feed.event)
            changed = feed.changed
            try:
                await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await _write(response, b": still here\n\n")
    except (ConnectionError, TimeoutError):  # the screen went away, or stalled
        return


async def _write(response: web.StreamResponse, data: bytes) -> None:
    await asyncio.wait_for(response.write(data), WRITE_SECONDS)


def build_app(db: Database, i18n: I18n, hub: Hub | None = None) -> web.Application:
    app = web.Application(client_max_size=1024)  # nothing is posted here
    app[HUB] = hub or Hub(db)
    app[I18N] = i18n
    app.router.add_get("/wall/{token}", page)
    app.router.add_get("/wall/{token}/events", events)
    app.router.add_get("/wall/{token}/figures.json", figures)

    async def close_hub(app: web.Application) -> None:
        await app[HUB].close()

    app.on_shutdown.append(close_hub)
    return app


async def start_web(settings: Settings, db: Database, i18n: I18n | None = None, *,
                    port: int | None = None, hub: Hub | None = None) -> web.AppRunner:
    """Serve the wall on WEB_HOST:WEB_PORT (or `port`; 0: any free one, see
    `runner.addresses`) until `runner.cleanup()`."""
    app = build_app(db, i18n or make_i18n(settings.default_locale), hub)
    # No access log (the token is in every path), and its errors logged without it (see
    # bot.wall.logs); streams end at once on shutdown; a screen that goes away cancels its
    # handler at once (its place is freed then, not at the next keep-alive): the handlers
    # only read.
    runner = web.AppRunner(app, access_log=None, logger=server_logger(), shutdown_timeout=2.0,
                           handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.web_host,
                          settings.web_port if port is None else port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("the wall listens on %s:%s", settings.web_host,
             runner.addresses[0][1] if runner.addresses else settings.web_port)
    return runner

"""The page's live view: every change of the chats as a server-sent event. The browser's
EventSource reconnects by itself, and reloads the whole state when it does (what it missed
while away is in the state)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiohttp import web

from bot.sandbox.cast import Member
from bot.sandbox.views import event_view
from bot.standin import StandIn

HEARTBEAT = 15.0  # seconds: a comment line that finds a browser gone
MAX_STREAMS = 100  # open pages at once; a trainer's room is a few dozen laptops
RETRY_MS = 2000
_open = 0


async def stream_events(request: web.Request, standin: StandIn,
                        people: Callable[[], list[Member]]) -> web.StreamResponse:
    global _open
    if _open >= MAX_STREAMS:
        raise web.HTTPServiceUnavailable(text="too many open pages")
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    _open += 1
    try:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        async with standin.watching() as queue:
            while standin.watched(queue):
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT)
                except TimeoutError:
                    await response.write(b": still here\n\n")
                    continue
                view = event_view(standin, event, people())
                if view is not None:
                    data = json.dumps(view, ensure_ascii=False, separators=(",", ":"))
                    await response.write(f"data: {data}\n\n".encode())
    except ConnectionError:
        pass  # the browser went away: its EventSource comes back when it can
    finally:
        _open -= 1
    return response

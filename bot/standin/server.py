"""The stand-in's HTTP side: the Bot API at `/bot{token}/{method}` on its own port (tests)
or inside an existing aiohttp application (the sandbox serves its page beside it), and
what the sandbox does as the people of the chats: deliver updates, watch the chats."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.standin import updates as build
from bot.standin.chats import ShownMessage, StoredFile
from bot.standin.methods import QUERIES_KEPT, BotApi, Event
from bot.standin.telegram_html import NOT_FOUND, NOT_MODIFIED, BadRequest

log = logging.getLogger(__name__)
# The refusals no screen is to blame for: a double tap's edit, a message gone meanwhile.
EXPECTED = frozenset({NOT_MODIFIED, NOT_FOUND})
EVENTS_QUEUED = 1000  # per subscriber: one that stops reading is dropped, not waited for


def _error(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


@dataclass
class StandIn(BotApi):
    """A Bot API server on loopback that keeps each chat as its person sees it."""

    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._runner: web.AppRunner | None = None
        self._update_ids = itertools.count(1)

    # ---- lifecycle -------------------------------------------------------------------------
    def install(self, app: web.Application) -> None:
        """The API's routes in an application that serves other pages too."""
        app.router.add_route("*", "/bot{token}/{method}", self._handle)

    async def start(self) -> None:
        """Serves the API alone on host:port (port 0: a free one, read back)."""
        app = web.Application()
        self.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """Every chat, keyboard, menu and queued update forgotten; screens are told."""
        self.chats.clear()
        self.keyboards.clear()
        self.commands.lists.clear()
        self._queries.clear()
        while not self.updates.empty():
            self.updates.get_nowait()
        self.unconfirmed.clear()
        self._notify(Event("reset"))

    # ---- the people's side -----------------------------------------------------------------
    def deliver(self, update: dict[str, Any]) -> None:
        """An update for the bot's next getUpdates. A person's message shows in their chat
        too; a callback query is remembered so that its answer reaches the right screen."""
        update.setdefault("update_id", next(self._update_ids))
        message = update.get("message")
        if message is not None:
            self._store(ShownMessage(
                int(message["message_id"]), int(message["chat"]["id"]),
                str(message.get("text", "")), sender=message["from"],
                reply_to=(message.get("reply_to_message") or {}).get("message_id")))
        query = update.get("callback_query")
        if query is not None:
            self._queries[str(query["id"])] = int(query["message"]["chat"]["id"])
            while len(self._queries) > QUERIES_KEPT:
                self._queries.popitem(last=False)
        self.updates.put_nowait(update)

    def say(self, user: dict[str, Any], text: str, reply_to: int | None = None) -> None:
        """`user` writes `text` in their private chat (a reply to one of its messages)."""
        replied = self.chats[user["id"]].get(reply_to) if reply_to is not None else None
        self.deliver(build.message_update(
            next(self._update_ids), next(self._ids), user, text,
            reply_to=self._answer(replied) if replied else None))

    def press(self, user: dict[str, Any], shown: ShownMessage, data: str) -> None:
        """`user` taps the inline button carrying `data` on `shown`."""
        self.deliver(build.callback_query_update(
            next(self._update_ids), user, self._answer(shown), data))

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """Every change of any chat, in order, while the block runs."""
        queue: asyncio.Queue[Event] = asyncio.Queue(EVENTS_QUEUED)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def watched(self, queue: asyncio.Queue[Event]) -> bool:
        """False once the queue was dropped for falling behind."""
        return queue in self._subscribers

    # ---- the API ---------------------------------------------------------------------------
    async def _intercept(self, method: str, params: dict[str, Any]) -> web.Response | None:
        """A response that replaces the method's own (the tests' faults), or None."""
        return None

    def _refused(self, method: str, description: str) -> None:
        """A request Telegram would refuse for a limit or bad HTML: a screen's bug."""
        log.warning("Telegram would refuse %s: %s", method, description)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await self._params(request)
        except ValueError:
            return _error(400, "Bad Request: can't parse request parameters")
        intercepted = await self._intercept(method, params)
        if intercepted is not None:
            return intercepted
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        try:
            result = await handler(params)
        except BadRequest as exc:
            if exc.description not in EXPECTED:
                self._refused(method, exc.description)
            return _error(400, exc.description)
        except KeyError as exc:
            return _error(400, f"Bad Request: {exc.args[0]} is empty")
        except (TypeError, ValueError):
            return _error(400, "Bad Request: chat not found")
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = dict(await request.post())
        params: dict[str, Any] = {}
        files: dict[str, StoredFile] = {}
        for key, value in raw.items():
            if isinstance(value, web.FileField):  # an upload: its bytes, name and type
                upload = value
                value = upload.file.read()
                files[key] = StoredFile(value, upload.filename, upload.content_type)
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            params[key] = value
        for key, value in list(params.items()):  # an upload is named: "attach://<field>"
            if isinstance(value, str) and value.startswith("attach://"):
                field_name = value.removeprefix("attach://")
                params[key] = params.pop(field_name, value)
                if field_name in files:
                    files[key] = files.pop(field_name)
        if files:
            params["_files"] = files
        return params

"""A fake Bot API server on loopback: real HTTP, recorded requests, faults on demand.

It keeps each chat as a person would see it: sent messages appear, edits change them,
deletions remove them. Tests (and the benchmarks) drive the real aiogram stack against it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

BOT_ID = 4242
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Toile", "username": "toile_test_bot"}


ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                "tg-spoiler", "span", "blockquote", "tg-emoji"}


class BadMarkup(ValueError):
    pass


class _TelegramHTML(HTMLParser):
    """Telegram's HTML parse mode: the person sees the text, tags must be known and closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise BadMarkup(f"Unsupported start tag \"{tag}\"")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            raise BadMarkup(f"Unmatched end tag \"{tag}\"")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered(text: str, parse_mode: str | None) -> str:
    if parse_mode != "HTML":
        return text
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise BadMarkup(f"Unclosed tag \"{parser.open[-1]}\"")
    return "".join(parser.text)


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    at: float


@dataclass
class ShownMessage:
    """A message as it stands in a chat now."""

    message_id: int
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    edits: int = 0

    def buttons(self) -> list[dict[str, Any]]:
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or self.reply_markup.get("keyboard") or []
        return [button for row in rows for button in row]

    def button_texts(self) -> list[str]:
        return [b["text"] for b in self.buttons()]


@dataclass
class Fault:
    status: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class FakeTelegram:
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[ApiCall] = field(default_factory=list)
    chats: dict[int, dict[int, ShownMessage]] = field(default_factory=lambda: defaultdict(dict))
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    updates: asyncio.Queue[dict[str, Any]] | None = None
    record: bool = True
    # Chats whose person blocked the bot: every send to them answers 403.
    blocked: set[int] = field(default_factory=set)
    # Every n-th sendMessage answers 429 (retry_after 1 s): flood control under load.
    flood_every: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self.updates = asyncio.Queue()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
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

    # ---- faults ----------------------------------------------------------------------
    def fail(self, method: str, status: int, *, times: int = 1, retry_after: int | None = None,
             description: str | None = None) -> None:
        """The next `times` calls of `method` answer with this error."""
        text = description or {429: "Too Many Requests: retry after {}",
                               403: "Forbidden: bot was blocked by the user",
                               400: "Bad Request: message is not modified"}.get(
            status, "Internal Server Error")
        for _ in range(times):
            self.faults[method].append(Fault(status, text.format(retry_after), retry_after))

    def hang(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer only after `seconds` (a timeout)."""
        for _ in range(times):
            self.faults[method].append(Fault(0, "", delay=seconds))

    # ---- what the person sees ---------------------------------------------------------
    def chat(self, chat_id: int) -> list[ShownMessage]:
        return sorted(self.chats[chat_id].values(), key=lambda m: m.message_id)

    def last(self, chat_id: int) -> ShownMessage:
        messages = self.chat(chat_id)
        assert messages, f"chat {chat_id} is empty"
        return messages[-1]

    def sent(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    # ---- the API ----------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        if self.record:
            self.calls.append(ApiCall(method, params, time.monotonic()))
        queue = self.faults.get(method)
        if queue:
            fault = queue.popleft()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            else:
                body: dict[str, Any] = {"ok": False, "error_code": fault.status,
                                        "description": fault.description}
                if fault.retry_after is not None:
                    body["parameters"] = {"retry_after": fault.retry_after}
                return web.json_response(body, status=fault.status)
        if method == "sendMessage" and self._refused(params) is not None:
            return self._refused(params)  # type: ignore[return-value]
        handler = getattr(self, f"api_{method}", None)
        try:
            result = await handler(params) if handler else True
        except BadMarkup as exc:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": f"Bad Request: can't parse entities: {exc}"},
                                     status=400)
        return web.json_response({"ok": True, "result": result})

    def _refused(self, params: dict[str, Any]) -> web.Response | None:
        if int(params.get("chat_id", 0)) in self.blocked:
            return web.json_response({"ok": False, "error_code": 403,
                                      "description": "Forbidden: bot was blocked by the user"},
                                     status=403)
        if self.flood_every and len(self.sent("sendMessage")) % self.flood_every == 0:
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        return None

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = dict(await request.post())
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, web.FileField):  # an uploaded photo: keep its bytes
                value = value.file.read()
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            params[key] = value
        for key, value in list(params.items()):  # an upload is named: "attach://<field>"
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.pop(value.removeprefix("attach://"), value)
        return params

    def _message(self, shown: ShownMessage) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": shown.message_id, "date": int(time.time()),
            "chat": {"id": shown.chat_id, "type": "private"}, "from": BOT_USER,
            "text": shown.text,
        }
        if shown.reply_markup and "inline_keyboard" in shown.reply_markup:
            message["reply_markup"] = shown.reply_markup
        return message

    async def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        text = rendered(str(params.get("text", "")), params.get("parse_mode"))
        shown = ShownMessage(next(self._ids), chat_id, text, params.get("reply_markup"))
        self.chats[chat_id][shown.message_id] = shown
        return self._message(shown)

    async def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        shown = ShownMessage(next(self._ids), chat_id, "[photo] " + str(params.get("caption", "")))
        self.chats[chat_id][shown.message_id] = shown
        return self._message(shown)

    def _find(self, params: dict[str, Any]) -> ShownMessage | None:
        return self.chats[int(params["chat_id"])].get(int(params["message_id"]))

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = rendered(str(params.get("text", "")), params.get("parse_mode"))
        shown = self._find(params)
        if shown is None:
            return True
        shown.text = text
        shown.reply_markup = params.get("reply_markup")
        shown.edits += 1
        return self._message(shown)

    async def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        shown = self._find(params)
        if shown is None:
            return True
        shown.reply_markup = params.get("reply_markup")
        shown.edits += 1
        return self._message(shown)

    async def api_deleteMessage(self, params: dict[str, Any]) -> bool:
        self.chats[int(params["chat_id"])].pop(int(params["message_id"]), None)
        return True

    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.updates is not None
        timeout = float(params.get("timeout", 0) or 0)
        batch: list[dict[str, Any]] = []
        try:
            batch.append(await asyncio.wait_for(self.updates.get(), timeout=max(timeout, 0.01)))
        except TimeoutError:
            return []
        limit = int(params.get("limit", 100) or 100)
        while len(batch) < limit and not self.updates.empty():
            batch.append(self.updates.get_nowait())
        return batch

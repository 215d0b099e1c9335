"""A fake Bot API server on loopback: real HTTP, recorded requests, faults on demand.

It keeps each chat as a person would see it: sent messages appear, edits change them,
deletions remove them. Tests (and the benchmarks) drive the real aiogram stack against it.

It refuses what Telegram refuses, with Telegram's own 400 descriptions, so that no screen
can pass the tests and then fail in production: texts over 4,096 UTF-16 code units (after
entity parsing), captions over 1,024, callback data outside 1-64 bytes, more than 100
inline buttons or about 10 KB of reply markup, buttons without text, URL buttons that are
not http(s) or tg://, callback answers over 200 characters, and an edit that changes
nothing ("message is not modified").
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


# Telegram's limits (https://core.telegram.org/bots/api and what its servers answer).
MAX_TEXT = 4096  # UTF-16 code units, after entity parsing
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_INLINE_BUTTONS = 100
MAX_MARKUP_BYTES = 10 * 1024  # the serialized reply markup
MAX_CALLBACK_ANSWER = 200
URL_SCHEMES = ("http://", "https://", "tg://")

TOO_LONG = "Bad Request: message is too long"
EDIT_TOO_LONG = "Bad Request: MESSAGE_TOO_LONG"
EMPTY = "Bad Request: message text is empty"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
URL_INVALID = "Bad Request: BUTTON_URL_INVALID"
TEXT_INVALID = "Bad Request: BUTTON_TEXT_INVALID"
MARKUP_TOO_LONG = "Bad Request: reply markup is too long"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message")
NOT_FOUND = "Bad Request: message to edit not found"


class BadRequest(ValueError):
    """A request Telegram answers with 400 and this description."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class BadMarkup(BadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Bad Request: can't parse entities: {reason}")


# Telegram's synonyms: <strong> and <b> make the same entity.
_SAME_ENTITY = {"strong": "b", "em": "i", "ins": "u", "strike": "s", "del": "s"}
Entity = tuple[str, tuple[tuple[str, str | None], ...], int, int]


class _TelegramHTML(HTMLParser):
    """Telegram's HTML parse mode: the person sees the text, tags must be known and closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[tuple[str, tuple[tuple[str, str | None], ...], int]] = []
        self.entities: list[Entity] = []
        self.length = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise BadMarkup(f"Unsupported start tag \"{tag}\"")
        self.open.append((tag, tuple(attrs), self.length))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise BadMarkup(f"Unmatched end tag \"{tag}\"")
        name, attrs, start = self.open.pop()
        if self.length > start:  # an empty entity is dropped, as Telegram does
            self.entities.append((_SAME_ENTITY.get(name, name), attrs, start, self.length))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.length += len(data)


def parsed(text: str, parse_mode: str | None) -> tuple[str, tuple[Entity, ...]]:
    """What the person sees, and its formatting (two edits that differ only by the latter
    still modify the message)."""
    if parse_mode != "HTML":
        return text, ()
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise BadMarkup(f"Unclosed tag \"{parser.open[-1][0]}\"")
    return "".join(parser.text), tuple(sorted(parser.entities, key=lambda e: (e[2], e[3])))


def rendered(text: str, parse_mode: str | None) -> str:
    return parsed(text, parse_mode)[0]


def utf16_length(text: str) -> int:
    """Telegram counts lengths in UTF-16 code units: an emoji outside the BMP counts two."""
    return len(text.encode("utf-16-le")) // 2


def checked_text(text: str, *, limit: int = MAX_TEXT, too_long: str = TOO_LONG) -> str:
    # Telegram trims the text first: only whitespace is an empty message.
    if not text.strip():
        raise BadRequest(EMPTY)
    if utf16_length(text.strip()) > limit:
        raise BadRequest(too_long)
    return text


def checked_markup(markup: Any) -> dict[str, Any] | None:
    """The reply markup as Telegram would take it, or the 400 it would answer."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise BadRequest("Bad Request: can't parse reply keyboard markup JSON object")
    if len(json.dumps(markup, ensure_ascii=False, separators=(",", ":")).encode()) > (
            MAX_MARKUP_BYTES):
        raise BadRequest(MARKUP_TOO_LONG)
    inline = markup.get("inline_keyboard")
    rows = inline if inline is not None else markup.get("keyboard") or []
    buttons = [button for row in rows for button in row]
    if inline is not None and len(buttons) > MAX_INLINE_BUTTONS:
        raise BadRequest(MARKUP_TOO_LONG)
    for button in buttons:
        text = button if isinstance(button, str) else button.get("text", "")
        if not str(text).strip():
            raise BadRequest(TEXT_INVALID)
        if inline is None or isinstance(button, str):
            continue
        if "callback_data" in button:
            data = str(button["callback_data"]).encode()
            if not 1 <= len(data) <= MAX_CALLBACK_DATA:
                raise BadRequest(DATA_INVALID)
        if "url" in button and not str(button["url"]).startswith(URL_SCHEMES):
            raise BadRequest(URL_INVALID)
    return markup


def _same_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    # No markup and an empty inline keyboard show the same message.
    return None if not markup or markup == {"inline_keyboard": []} else markup


def chat_of(chat_id: int) -> dict[str, Any]:
    """A chat as Telegram describes it: a person's private chat, or a group (negative id)."""
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "Organizers"}
    return {"id": chat_id, "type": "private"}


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
    entities: tuple[Entity, ...] = ()

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
    # The requests refused for breaking a limit or bad HTML: a screen's bug, even where
    # the bot survives it (a best-effort edit, a delivery marked failed). The harness fails
    # a test on them; "not modified" and "not found" are not among them.
    refusals: list[tuple[str, str]] = field(default_factory=list)

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
        """The next `times` calls of `method` answer with this error. A 400 is by default
        one no retry or double tap explains ("not modified" the fake answers by itself)."""
        text = description or {429: "Too Many Requests: retry after {}",
                               403: "Forbidden: bot was blocked by the user",
                               400: "Bad Request: message can't be edited"}.get(
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
        except BadRequest as exc:
            if exc.description not in (NOT_MODIFIED, NOT_FOUND):
                self.refusals.append((method, exc.description))
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": exc.description}, status=400)
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
            "chat": chat_of(shown.chat_id), "from": BOT_USER, "text": shown.text,
        }
        if shown.reply_markup and "inline_keyboard" in shown.reply_markup:
            message["reply_markup"] = shown.reply_markup
        return message

    async def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        text, entities = parsed(str(params.get("text", "")), params.get("parse_mode"))
        checked_text(text)
        markup = checked_markup(params.get("reply_markup"))
        shown = ShownMessage(next(self._ids), chat_id, text, markup, entities=entities)
        self.chats[chat_id][shown.message_id] = shown
        return self._message(shown)

    async def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        caption, _entities = parsed(str(params.get("caption", "")), params.get("parse_mode"))
        if utf16_length(caption.strip()) > MAX_CAPTION:
            raise BadRequest(CAPTION_TOO_LONG)
        markup = checked_markup(params.get("reply_markup"))
        shown = ShownMessage(next(self._ids), chat_id, "[photo] " + caption, markup)
        self.chats[chat_id][shown.message_id] = shown
        return self._message(shown)

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        if utf16_length(str(params.get("text", ""))) > MAX_CALLBACK_ANSWER:
            raise BadRequest(EDIT_TOO_LONG)
        return True

    def _find(self, params: dict[str, Any]) -> ShownMessage:
        shown = self.chats[int(params["chat_id"])].get(int(params["message_id"]))
        if shown is None:
            raise BadRequest(NOT_FOUND)
        return shown

    def _edit(self, shown: ShownMessage, text: str, entities: tuple[Entity, ...],
              markup: dict[str, Any] | None) -> dict[str, Any]:
        if (text, entities, _same_markup(markup)) == (
                shown.text, shown.entities, _same_markup(shown.reply_markup)):
            raise BadRequest(NOT_MODIFIED)
        shown.text, shown.entities, shown.reply_markup = text, entities, markup
        shown.edits += 1
        return self._message(shown)

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        text, entities = parsed(str(params.get("text", "")), params.get("parse_mode"))
        checked_text(text, too_long=EDIT_TOO_LONG)
        markup = checked_markup(params.get("reply_markup"))
        return self._edit(self._find(params), text, entities, markup)

    async def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        markup = checked_markup(params.get("reply_markup"))
        shown = self._find(params)
        return self._edit(shown, shown.text, shown.entities, markup)

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

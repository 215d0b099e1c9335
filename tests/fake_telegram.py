"""The tests' Bot API: the product's stand-in (bot/standin), plus what only tests want of
it: every request recorded, faults on demand, people who blocked the bot, flood control,
and the refusals collected so that the harness fails a test on them.

It refuses what Telegram refuses, with Telegram's own 400 descriptions (see
bot/standin/telegram_html.py), so that no screen can pass the tests and then fail in
production.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.standin.chats import BOT_ID, ShownMessage, bot_user, chat_of
from bot.standin.server import StandIn
from bot.standin.telegram_html import (
    MAX_CALLBACK_DATA,
    MAX_INLINE_BUTTONS,
    MAX_MARKUP_BYTES,
    MAX_TEXT,
    BadRequest,
    parsed,
    rendered,
    utf16_length,
)

USERNAME = "toile_test_bot"
BOT_USER = bot_user(USERNAME)

__all__ = ["BOT_ID", "BOT_USER", "MAX_CALLBACK_DATA", "MAX_INLINE_BUTTONS", "MAX_MARKUP_BYTES",
           "MAX_TEXT", "ApiCall", "BadRequest", "FakeTelegram", "Fault", "ShownMessage",
           "chat_of", "parsed", "rendered", "utf16_length"]


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    at: float


@dataclass
class Fault:
    status: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


@dataclass
class FakeTelegram(StandIn):
    username: str = USERNAME
    max_messages: int | None = None  # a test reads every message its people were sent
    calls: list[ApiCall] = field(default_factory=list)
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    record: bool = True
    # Chats whose person blocked the bot: every send to them answers 403.
    blocked: set[int] = field(default_factory=set)
    # Every n-th sendMessage answers 429 (retry_after 1 s): flood control under load.
    flood_every: int = 0
    # The requests refused for breaking a limit or bad HTML: a screen's bug, even where
    # the bot survives it (a best-effort edit, a delivery marked failed). The harness fails
    # a test on them; "not modified" and "not found" are not among them.
    refusals: list[tuple[str, str]] = field(default_factory=list)
    # The people's messages, fed to the dispatcher without showing in the chats: the bot
    # may reply to them.
    heard: set[tuple[int, int]] = field(default_factory=set)

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

    # ---- the stand-in's hooks ----------------------------------------------------------
    async def _intercept(self, method: str, params: dict[str, Any]) -> web.Response | None:
        if self.record:
            recorded = {k: v for k, v in params.items() if k != "_files"}
            self.calls.append(ApiCall(method, recorded, time.monotonic()))
        queue = self.faults.get(method)
        if queue:
            fault = queue.popleft()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            else:
                return _error(fault.status, fault.description, fault.retry_after)
        if method == "sendMessage":
            return self._blocked_or_flooded(params)
        return None

    def _blocked_or_flooded(self, params: dict[str, Any]) -> web.Response | None:
        if int(params.get("chat_id", 0)) in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if self.flood_every and len(self.sent("sendMessage")) % self.flood_every == 0:
            return _error(429, "Too Many Requests: retry after 1", 1)
        return None

    def _replyable(self, chat_id: int, message_id: int) -> bool:
        return (chat_id, message_id) in self.heard or super()._replyable(chat_id, message_id)

    def _refused(self, method: str, description: str) -> None:
        self.refusals.append((method, description))

"""Surviving the Bot API: wait out 429s, retry server errors, never retry a send blindly."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

log = logging.getLogger(__name__)


class FloodGate:
    """A 429 is Telegram saying "this bot, slow down": every request waits it out, not
    only the one that got it, and the deliverer's pacing starts again after it."""

    def __init__(self) -> None:
        self.closed_until = 0.0  # event-loop time

    def close_for(self, seconds: float) -> None:
        now = asyncio.get_running_loop().time()
        self.closed_until = max(self.closed_until, now + seconds)

    def wait_time(self) -> float:
        return max(0.0, self.closed_until - asyncio.get_running_loop().time())

    async def wait(self) -> None:
        delay = self.wait_time()
        while delay > 0:  # closed again meanwhile by another 429: wait that out too
            await asyncio.sleep(delay)
            delay = self.wait_time()


class RetryMiddleware(BaseRequestMiddleware):
    """429: sleep `retry_after` and try again. 5xx: the request was not carried out, so
    retrying cannot duplicate it; back off a little. Timeouts are not retried: a send may
    have gone through, and the caller decides (a volunteer simply taps again)."""

    def __init__(self, max_retries: int = 5, max_wait: float = 60.0,
                 server_error_backoff: float = 0.5) -> None:
        self.gate = FloodGate()
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.server_error_backoff = server_error_backoff

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        attempt = 0
        while True:
            await self.gate.wait()
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                self.gate.close_for(exc.retry_after)
                if attempt >= self.max_retries or exc.retry_after > self.max_wait:
                    raise
                log.warning("429 on %s: waiting %ss", type(method).__name__, exc.retry_after)
            except TelegramServerError:
                if attempt >= self.max_retries:
                    raise
                await asyncio.sleep(self.server_error_backoff * 2 ** attempt)
            attempt += 1


class KeepResponseTypes(BaseRequestMiddleware):
    """aiogram parses every answer as `Response[<the method's result type>]`, a pydantic
    generic. pydantic keeps such parametrized classes only weakly, so they are collected and
    rebuilt (schema and validator, ~10 ms) over and over; one strong reference per result
    type keeps them built."""

    def __init__(self) -> None:
        self.kept: dict[Any, type] = {}

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self.kept:
            self.kept[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


def install(bot: Bot, **kwargs: Any) -> None:
    bot.session.middleware(KeepResponseTypes())
    bot.session.middleware(RetryMiddleware(**kwargs))


def flood_gate(bot: Bot) -> FloodGate:
    """The gate of the bot's retry middleware (a fresh one if it has none)."""
    for middleware in bot.session.middleware:
        if isinstance(middleware, RetryMiddleware):
            return middleware.gate
    return FloodGate()

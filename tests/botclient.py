"""People using the bot, in tests: send a message, press a button, look at the chat.

Updates go through the real aiogram dispatcher; everything the bot says goes over real HTTP
to the Bot API stand-in (bot/standin), which keeps each chat as its person sees it.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.standin import updates
from bot.standin.chats import wire_message
from tests.fake_telegram import BOT_USER, FakeTelegram, ShownMessage, chat_of

_update_ids = itertools.count(1)
_message_ids = itertools.count(10_000_000)


class ErrorCollector(logging.Handler):
    """Errors the bot swallowed to stay alive: a test fails on them unless it expects them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Person:
    harness: Harness
    id: int
    first_name: str
    language_code: str = "fr"
    username: str | None = None
    last_name: str | None = None

    def _user(self) -> dict[str, Any]:
        return updates.user(self.id, self.first_name, self.language_code, self.username,
                            self.last_name)

    async def send(self, text: str, reply_to: ShownMessage | None = None,
                   in_chat: int | None = None) -> None:
        """In the person's private chat, or in a group (`in_chat`, a negative id); a reply
        is written in the chat of the message it replies to."""
        if reply_to is not None:
            in_chat = reply_to.chat_id
        user = self._user()
        chat = (updates.private_chat(user) if in_chat is None or in_chat == self.id
                else chat_of(in_chat))
        replied = wire_message(reply_to, BOT_USER) if reply_to is not None else None
        await self.harness.feed(updates.message_update(
            next(_update_ids), next(_message_ids), user, text, chat=chat, reply_to=replied))

    async def press(self, button_text: str, message: ShownMessage | None = None) -> None:
        """Press the inline button whose text contains `button_text` (newest message first)."""
        candidates = [message] if message else list(reversed(self.chat()))
        for shown in candidates:
            for button in shown.buttons():
                if button_text in button["text"] and "callback_data" in button:
                    await self.press_data(button["callback_data"], shown)
                    return
        raise AssertionError(f"no button {button_text!r} in {self.id}'s chat: "
                             f"{[m.button_texts() for m in candidates]}")

    async def press_data(self, data: str, shown: ShownMessage) -> None:
        await self.harness.feed(updates.callback_query_update(
            next(_update_ids), self._user(), wire_message(shown, BOT_USER), data))

    def chat(self) -> list[ShownMessage]:
        return self.harness.fake.chat(self.id)

    def last(self) -> ShownMessage:
        return self.harness.fake.last(self.id)

    def sees(self, text: str) -> bool:
        return any(text in m.text for m in self.chat())

    def callback_answers(self) -> list[dict[str, Any]]:
        return [c.params for c in self.harness.fake.sent("answerCallbackQuery")]


@dataclass
class Harness:
    fake: FakeTelegram
    bot: Bot
    dp: Dispatcher
    errors: ErrorCollector = field(default_factory=ErrorCollector)

    def person(self, user_id: int, first_name: str, language_code: str = "fr",
               username: str | None = None, last_name: str | None = None) -> Person:
        return Person(self, user_id, first_name, language_code, username, last_name)

    async def feed(self, update: dict[str, Any]) -> None:
        message = update.get("message")
        if message is not None:  # the bot may reply to it, as to any message in the chat
            self.fake.heard.add((message["chat"]["id"], message["message_id"]))
        await self.dp.feed_update(self.bot, Update.model_validate(update,
                                                                 context={"bot": self.bot}))

"""People using the bot, in tests: send a message, press a button, look at the chat.

Updates go through the real aiogram dispatcher; everything the bot says goes over real HTTP
to the fake Bot API server, which keeps each chat as its person sees it.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

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
        user = {"id": self.id, "is_bot": False, "first_name": self.first_name,
                "language_code": self.language_code}
        if self.username:
            user["username"] = self.username
        if self.last_name:
            user["last_name"] = self.last_name
        return user

    async def send(self, text: str, reply_to: ShownMessage | None = None,
                   in_chat: int | None = None) -> None:
        """In the person's private chat, or in a group (`in_chat`, a negative id); a reply
        is written in the chat of the message it replies to."""
        if reply_to is not None:
            in_chat = reply_to.chat_id
        chat = ({"id": self.id, "type": "private", "first_name": self.first_name}
                if in_chat is None or in_chat == self.id else chat_of(in_chat))
        message: dict[str, Any] = {
            "message_id": next(_message_ids), "date": int(time.time()),
            "chat": chat, "from": self._user(), "text": text,
        }
        if reply_to is not None:  # a reply to one of the bot's messages in this chat
            message["reply_to_message"] = {
                "message_id": reply_to.message_id, "date": int(time.time()),
                "chat": chat_of(reply_to.chat_id), "from": BOT_USER,
                "text": reply_to.text}
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        await self.harness.feed({"update_id": next(_update_ids), "message": message})

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
        message = {
            "message_id": shown.message_id, "date": int(time.time()),
            "chat": chat_of(shown.chat_id), "from": BOT_USER, "text": shown.text,
        }
        if shown.reply_markup and "inline_keyboard" in shown.reply_markup:
            message["reply_markup"] = shown.reply_markup
        await self.harness.feed({"update_id": next(_update_ids), "callback_query": {
            "id": str(next(_update_ids)), "from": self._user(), "chat_instance": "ci",
            "data": data, "message": message}})

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
        await self.dp.feed_update(self.bot, Update.model_validate(update,
                                                                 context={"bot": self.bot}))

"""Updates as Telegram delivers them when a person writes or taps: a message, a command, a
`/start <payload>` from a t.me link, a callback query. The sandbox's page and the tests'
people build theirs here."""

from __future__ import annotations

import time
from typing import Any


def user(user_id: int, first_name: str, language_code: str = "fr",
         username: str | None = None, last_name: str | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name,
                              "language_code": language_code}
    if username:
        person["username"] = username
    if last_name:
        person["last_name"] = last_name
    return person


def private_chat(person: dict[str, Any]) -> dict[str, Any]:
    return {"id": person["id"], "type": "private", "first_name": person["first_name"]}


def command_entities(text: str) -> list[dict[str, Any]]:
    """A text starting with a command carries its bot_command entity, as Telegram adds it."""
    if not text.startswith("/"):
        return []
    command = text.split()[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


def message_update(update_id: int, message_id: int, person: dict[str, Any], text: str, *,
                   chat: dict[str, Any] | None = None,
                   reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
    """`person` writes `text` in their private chat, or in `chat`; `reply_to` is the Message
    they answer (as the Bot API gave it)."""
    message: dict[str, Any] = {
        "message_id": message_id, "date": int(time.time()),
        "chat": chat or private_chat(person), "from": person, "text": text,
    }
    entities = command_entities(text)
    if entities:
        message["entities"] = entities
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    return {"update_id": update_id, "message": message}


def start_update(update_id: int, message_id: int, person: dict[str, Any],
                 payload: str = "") -> dict[str, Any]:
    """What opening `t.me/<bot>?start=<payload>` sends: `/start <payload>`."""
    return message_update(update_id, message_id, person,
                          f"/start {payload}" if payload else "/start")


def callback_query_update(update_id: int, person: dict[str, Any], message: dict[str, Any],
                          data: str, *, chat_instance: str = "ci",
                          query_id: str | None = None) -> dict[str, Any]:
    """`person` taps the inline button carrying `data` on `message` (the Bot API's Message
    of it, as it stands)."""
    return {"update_id": update_id, "callback_query": {
        "id": query_id or str(update_id), "from": person, "chat_instance": chat_instance,
        "data": data, "message": message}}

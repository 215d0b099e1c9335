"""What the page draws, as JSON: each message as the person's Telegram app shows it (its
text, the entities Telegram parsed, its buttons, its file), the reply keyboard, the menu."""

from __future__ import annotations

from typing import Any

from bot.sandbox.cast import Member
from bot.standin import Event, ShownMessage, StandIn
from bot.standin.telegram_html import api_entities

SNIPPET = 80  # characters of a replied-to message shown above the reply


def file_url(shown: ShownMessage) -> str:
    return f"/sandbox/file/{shown.chat_id}/{shown.message_id}"


def _buttons(shown: ShownMessage) -> list[list[dict[str, str]]]:
    """Inline buttons only: a reply keyboard belongs to the chat, under the text box."""
    markup = shown.inline_keyboard()
    if markup is None:
        return []
    rows = []
    for row in markup["inline_keyboard"]:
        drawn = []
        for button in row:
            drawn.append({"text": str(button.get("text", "")), **_action(button)})
        rows.append(drawn)
    return rows


def _action(button: dict[str, Any]) -> dict[str, str]:
    if "callback_data" in button:
        return {"data": str(button["callback_data"])}
    if "url" in button:
        return {"url": str(button["url"])}
    if "copy_text" in button:
        return {"copy": str(button["copy_text"].get("text", ""))}
    return {}


def message_view(shown: ShownMessage, replied: ShownMessage | None = None) -> dict[str, Any]:
    body = shown.body
    view: dict[str, Any] = {
        "id": shown.message_id, "mine": shown.sender is not None, "kind": shown.kind,
        "text": body, "entities": api_entities(body, shown.entities),
        "buttons": _buttons(shown), "edited": shown.edits > 0, "date": shown.date,
    }
    if shown.file is not None:
        view["file"] = {"url": file_url(shown), "name": shown.file.filename,
                        "size": len(shown.file.data)}
    if shown.reply_to is not None:
        quoted = replied.body if replied is not None else ""
        view["reply_to"] = {"id": shown.reply_to, "text": quoted[:SNIPPET]}
    return view


def chat_view(standin: StandIn, chat_id: int) -> list[dict[str, Any]]:
    chat = standin.chats.get(chat_id, {})
    ordered = sorted(chat.values(), key=lambda m: m.message_id)
    return [message_view(m, chat.get(m.reply_to) if m.reply_to else None) for m in ordered]


def keyboard_view(standin: StandIn, chat_id: int) -> list[list[str]] | None:
    markup = standin.keyboards.get(chat_id)
    if markup is None:
        return None
    return [[b if isinstance(b, str) else str(b.get("text", "")) for b in row]
            for row in markup.get("keyboard", [])]


def menu_view(standin: StandIn, member: Member) -> list[dict[str, str]]:
    return standin.commands.for_private_chat(member.id, member.language_code)


def person_view(standin: StandIn, member: Member) -> dict[str, Any]:
    return {"id": member.id, "first_name": member.first_name, "role": member.role,
            "language_code": member.language_code, "messages": chat_view(standin, member.id),
            "keyboard": keyboard_view(standin, member.id), "menu": menu_view(standin, member)}


def event_view(standin: StandIn, event: Event, people: list[Member]) -> dict[str, Any] | None:
    """The event as the page's stream sends it, None for a chat nobody here looks at."""
    if event.kind == "reset":
        return {"type": "reset"}
    if event.kind == "commands":
        return {"type": "menus", "menus": {m.id: menu_view(standin, m) for m in people}}
    if event.chat_id not in {m.id for m in people}:
        return None
    if event.kind == "shown" and event.message is not None:
        chat = standin.chats.get(event.chat_id, {})
        replied = chat.get(event.message.reply_to) if event.message.reply_to else None
        return {"type": "message", "chat": event.chat_id,
                "message": message_view(event.message, replied)}
    if event.kind == "deleted":
        return {"type": "deleted", "chat": event.chat_id, "id": event.message_id}
    if event.kind == "keyboard":
        return {"type": "keyboard", "chat": event.chat_id,
                "keyboard": keyboard_view(standin, event.chat_id)}
    if event.kind == "toast":
        return {"type": "toast", "chat": event.chat_id, "text": event.text,
                "alert": event.alert}
    return None

"""The chats as each person sees them: the bot's messages as they stand now (edits change
them, deletions remove them), the person's own messages, the files the bot sent, the reply
keyboard under the text box, and the command menu per scope and language."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from bot.standin.telegram_html import BadRequest, Entity, api_entities

BOT_ID = 4242


def bot_user(username: str, first_name: str = "Toile") -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": first_name, "username": username}


def chat_of(chat_id: int) -> dict[str, Any]:
    """A chat as Telegram describes it: a person's private chat, or a group (negative id)."""
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "Organizers"}
    return {"id": chat_id, "type": "private"}


@dataclass(frozen=True)
class StoredFile:
    """A photo or document the bot uploaded: the page shows or offers it from these bytes."""

    data: bytes
    filename: str
    mime_type: str

    @property
    def unique_id(self) -> str:
        return hashlib.blake2b(self.data, digest_size=8).hexdigest()


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF8", "image/gif"), (b"%PDF-", "application/pdf"))


def sniffed_type(stored: StoredFile) -> str:
    """What the bytes are: aiogram uploads every file as application/octet-stream."""
    for magic, mime in _MAGIC:
        if stored.data.startswith(magic):
            return mime
    if stored.mime_type and stored.mime_type != "application/octet-stream":
        return stored.mime_type
    if stored.filename.endswith(".csv"):
        return "text/csv"
    return "application/octet-stream"


@dataclass
class ShownMessage:
    """A message as it stands in a chat now. `text` is what a person reads (a photo's is
    "[photo] " and its caption); `entities` its formatting, in code points of `caption` for a
    photo or document, of `text` otherwise."""

    message_id: int
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    edits: int = 0
    entities: tuple[Entity, ...] = ()
    kind: str = "text"  # "text", "photo", "document"
    caption: str = ""
    file: StoredFile | None = None
    reply_to: int | None = None
    sender: dict[str, Any] | None = None  # None: the bot; else the person who wrote it
    date: int = field(default_factory=lambda: int(time.time()))

    def buttons(self) -> list[dict[str, Any]]:
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or self.reply_markup.get("keyboard") or []
        return [button for row in rows for button in row]

    def button_texts(self) -> list[str]:
        return [b["text"] for b in self.buttons()]

    @property
    def body(self) -> str:
        """The text its entities format: the caption of a photo or document."""
        return self.text if self.kind == "text" else self.caption

    def inline_keyboard(self) -> dict[str, Any] | None:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return self.reply_markup
        return None


def wire_message(shown: ShownMessage, bot: dict[str, Any],
                 replied: ShownMessage | None = None) -> dict[str, Any]:
    """The Message object Telegram answers with (and sends in a callback query)."""
    message: dict[str, Any] = {
        "message_id": shown.message_id, "date": shown.date, "chat": chat_of(shown.chat_id),
        "from": shown.sender or bot,
    }
    entities = api_entities(shown.body, shown.entities) if shown.entities else []
    if shown.kind == "text":
        message["text"] = shown.text
        if entities:
            message["entities"] = entities
    else:
        message.update(_media(shown))
        if shown.caption:
            message["caption"] = shown.caption
        if entities:
            message["caption_entities"] = entities
    if shown.inline_keyboard():
        message["reply_markup"] = shown.reply_markup
    if shown.edits:
        message["edit_date"] = int(time.time())
    if replied is not None:
        message["reply_to_message"] = wire_message(replied, bot)
    return message


def _media(shown: ShownMessage) -> dict[str, Any]:
    assert shown.file is not None
    ids = {"file_id": f"{shown.kind}-{shown.message_id}",
           "file_unique_id": shown.file.unique_id, "file_size": len(shown.file.data)}
    if shown.kind == "photo":
        return {"photo": [{**ids, "width": 800, "height": 600}]}
    return {"document": {**ids, "file_name": shown.file.filename,
                         "mime_type": shown.file.mime_type}}


# ---- the command menu -----------------------------------------------------------------------

ScopeKey = tuple[str, int, int]  # (type, chat_id, user_id): 0 where the scope has none


def scope_key(scope: Any) -> ScopeKey:
    if not isinstance(scope, dict):
        return ("default", 0, 0)
    kind = str(scope.get("type", "default"))
    if kind not in ("default", "all_private_chats", "all_group_chats",
                    "all_chat_administrators", "chat", "chat_administrators", "chat_member"):
        raise BadRequest("Bad Request: unsupported scope type")
    return (kind, int(scope.get("chat_id", 0) or 0), int(scope.get("user_id", 0) or 0))


@dataclass
class CommandMenu:
    """setMyCommands' lists, per scope and language, and the one a private chat shows:
    Telegram looks for the chat's scope in the person's language, then the chat's, then
    all private chats', then the default's, each first in the language, then without."""

    lists: dict[tuple[ScopeKey, str], list[dict[str, str]]] = field(default_factory=dict)

    def set(self, scope: ScopeKey, language: str, commands: list[dict[str, str]]) -> None:
        if commands:
            self.lists[(scope, language)] = commands
        else:
            self.lists.pop((scope, language), None)

    def get(self, scope: ScopeKey, language: str) -> list[dict[str, str]]:
        return self.lists.get((scope, language), [])

    def for_private_chat(self, chat_id: int, language: str) -> list[dict[str, str]]:
        for scope in (("chat", chat_id, 0), ("all_private_chats", 0, 0), ("default", 0, 0)):
            for lang in (language, ""):
                if (scope, lang) in self.lists:
                    return self.lists[(scope, lang)]
        return []

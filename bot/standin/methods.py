"""The Bot API methods Toile calls, answered as Telegram answers them: the result's shape,
and the 400 (with Telegram's description) for what Telegram refuses."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from bot.standin.chats import (
    BOT_ID,
    CommandMenu,
    ShownMessage,
    StoredFile,
    bot_user,
    scope_key,
    sniffed_type,
    wire_message,
)
from bot.standin.telegram_html import (
    EDIT_TOO_LONG,
    MAX_CALLBACK_ANSWER,
    NOT_FOUND,
    NOT_MODIFIED,
    BadRequest,
    Entity,
    checked_caption,
    checked_markup,
    checked_text,
    parsed,
    utf16_length,
)

DELETE_NOT_FOUND = "Bad Request: message to delete not found"
REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
NO_TEXT = "Bad Request: there is no text in the message to edit"
NO_CAPTION = "Bad Request: there is no caption in the message to edit"
MAX_COMMANDS = 100
POLL_STEP = 0.25  # seconds a long poll waits on the queue before it looks again
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE = re.compile(r"(?:[a-z]{2})?")
QUERIES_KEPT = 1000  # callback queries waiting for their answer, the oldest forgotten first


@dataclass
class Event:
    """A change a person's screen shows: "shown" (sent or edited), "deleted", "toast" (a
    callback query's answer), "keyboard" (the reply keyboard), "commands", "reset"."""

    kind: str
    chat_id: int = 0
    message: ShownMessage | None = None
    message_id: int = 0
    text: str = ""
    alert: bool = False


def _same_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    # No markup and an empty inline keyboard show the same message.
    return None if not markup or markup == {"inline_keyboard": []} else markup


@dataclass
class BotApi:
    """The state behind the API: chats, reply keyboards, command menus, pending queries."""

    username: str = "toile_sandbox_bot"
    # Messages kept per chat, the oldest dropped first (None: all, as tests want).
    max_messages: int | None = 1000
    chats: dict[int, dict[int, ShownMessage]] = field(default_factory=lambda: defaultdict(dict))
    keyboards: dict[int, dict[str, Any]] = field(default_factory=dict)
    commands: CommandMenu = field(default_factory=CommandMenu)
    updates: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    # Handed out by getUpdates, not yet confirmed by a later offset.
    unconfirmed: deque[dict[str, Any]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._queries: OrderedDict[str, int] = OrderedDict()  # query id -> chat id

    @property
    def bot(self) -> dict[str, Any]:
        return bot_user(self.username)

    # ---- what subscribers see ----------------------------------------------------------------
    def _notify(self, event: Event) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a screen that stopped reading: it reloads when back
                self._subscribers.discard(queue)

    def _store(self, shown: ShownMessage) -> ShownMessage:
        chat = self.chats[shown.chat_id]
        chat[shown.message_id] = shown
        if self.max_messages is not None and len(chat) > self.max_messages:
            del chat[next(iter(chat))]
        if self._subscribers:
            self._notify(Event("shown", shown.chat_id, shown, shown.message_id))
        return shown

    def _answer(self, shown: ShownMessage) -> dict[str, Any]:
        replied = (self.chats[shown.chat_id].get(shown.reply_to)
                   if shown.reply_to is not None else None)
        return wire_message(shown, self.bot, replied)

    # ---- sending -----------------------------------------------------------------------------
    async def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _reply_to(self, chat_id: int, params: dict[str, Any]) -> int | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            target = reply.get("message_id")
            lenient = bool(reply.get("allow_sending_without_reply"))
        else:
            target = params.get("reply_to_message_id")
            lenient = str(params.get("allow_sending_without_reply")).lower() == "true"
        if target in (None, ""):
            return None
        if self._replyable(chat_id, int(target)):
            return int(target)
        if lenient:
            return None
        raise BadRequest(REPLY_NOT_FOUND)

    def _replyable(self, chat_id: int, message_id: int) -> bool:
        return message_id in self.chats[chat_id]

    def _keyboard(self, chat_id: int, markup: dict[str, Any] | None) -> None:
        """A reply keyboard stays under the text box until another replaces or removes it."""
        if markup is None or "inline_keyboard" in markup:
            return
        if markup.get("remove_keyboard"):
            self.keyboards.pop(chat_id, None)
        elif "keyboard" in markup:
            self.keyboards[chat_id] = markup
        else:
            return
        if self._subscribers:
            self._notify(Event("keyboard", chat_id))

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        text, entities = parsed(str(params.get("text", "")), params.get("parse_mode"))
        checked_text(text)
        markup = checked_markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat_id, params)
        shown = self._store(ShownMessage(next(self._ids), chat_id, text, markup,
                                         entities=entities, reply_to=reply_to))
        self._keyboard(chat_id, markup)
        return self._answer(shown)

    async def _send_file(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        caption, entities = parsed(str(params.get("caption", "")), params.get("parse_mode"))
        checked_caption(caption)
        markup = checked_markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat_id, params)
        upload = params.get(kind)
        if upload in (None, b"", ""):
            raise BadRequest(f"Bad Request: there is no {kind} in the request")
        files: dict[str, StoredFile] = params.get("_files") or {}
        stored = files.get(kind) or StoredFile(
            upload if isinstance(upload, bytes) else b"", f"{kind}.bin", "")
        stored = StoredFile(stored.data, stored.filename, sniffed_type(stored))
        label = "[photo] " if kind == "photo" else f"[document {stored.filename}] "
        shown = self._store(ShownMessage(
            next(self._ids), chat_id, label + caption, markup, entities=entities, kind=kind,
            caption=caption, file=stored, reply_to=reply_to))
        self._keyboard(chat_id, markup)
        return self._answer(shown)

    async def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_file(params, "photo")

    async def api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_file(params, "document")

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        text = str(params.get("text", "") or "")
        if utf16_length(text) > MAX_CALLBACK_ANSWER:
            raise BadRequest(EDIT_TOO_LONG)
        chat_id = self._queries.pop(str(params.get("callback_query_id", "")), None)
        if chat_id is not None and text and self._subscribers:
            alert = str(params.get("show_alert")).lower() == "true"
            self._notify(Event("toast", chat_id, text=text, alert=alert))
        return True

    # ---- editing and deleting ------------------------------------------------------------------
    def _find(self, params: dict[str, Any]) -> ShownMessage:
        if "inline_message_id" in params:
            raise BadRequest("Bad Request: MESSAGE_ID_INVALID")
        shown = self.chats[int(params["chat_id"])].get(int(params["message_id"]))
        if shown is None or shown.sender is not None:
            raise BadRequest(NOT_FOUND)
        return shown

    def _edit(self, shown: ShownMessage, text: str, entities: tuple[Entity, ...],
              markup: dict[str, Any] | None) -> dict[str, Any]:
        body = shown.body
        if (text, entities, _same_markup(markup)) == (
                body, shown.entities, _same_markup(shown.reply_markup)):
            raise BadRequest(NOT_MODIFIED)
        if shown.kind == "text":
            shown.text = text
        else:
            shown.caption = text
            shown.text = shown.text[:len(shown.text) - len(body)] + text
        shown.entities, shown.reply_markup = entities, markup
        shown.edits += 1
        if self._subscribers:
            self._notify(Event("shown", shown.chat_id, shown, shown.message_id))
        return self._answer(shown)

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        text, entities = parsed(str(params.get("text", "")), params.get("parse_mode"))
        checked_text(text, too_long=EDIT_TOO_LONG)
        markup = checked_markup(params.get("reply_markup"))
        shown = self._find(params)
        if shown.kind != "text":
            raise BadRequest(NO_TEXT)
        return self._edit(shown, text, entities, markup)

    async def api_editMessageCaption(self, params: dict[str, Any]) -> dict[str, Any]:
        caption, entities = parsed(str(params.get("caption", "")), params.get("parse_mode"))
        checked_caption(caption)
        markup = checked_markup(params.get("reply_markup"))
        shown = self._find(params)
        if shown.kind == "text":
            raise BadRequest(NO_CAPTION)
        return self._edit(shown, caption, entities, markup)

    async def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        markup = checked_markup(params.get("reply_markup"))
        shown = self._find(params)
        return self._edit(shown, shown.body, shown.entities, markup)

    async def api_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        if self.chats[chat_id].pop(message_id, None) is None:
            raise BadRequest(DELETE_NOT_FOUND)
        if self._subscribers:
            self._notify(Event("deleted", chat_id, message_id=message_id))
        return True

    # ---- the command menu ----------------------------------------------------------------------
    @staticmethod
    def _language(params: dict[str, Any]) -> str:
        language = str(params.get("language_code") or "")
        if not _LANGUAGE.fullmatch(language):
            raise BadRequest("Bad Request: LANG_CODE_INVALID")
        return language

    async def api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > MAX_COMMANDS:
            raise BadRequest("Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not _COMMAND.fullmatch(str(command.get("command", ""))):
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise BadRequest("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        listed = [{"command": str(c["command"]), "description": str(c["description"])}
                  for c in commands]
        self.commands.set(scope_key(params.get("scope")), self._language(params), listed)
        if self._subscribers:
            self._notify(Event("commands"))
        return True

    async def api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self.commands.get(scope_key(params.get("scope")), self._language(params))

    async def api_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands.set(scope_key(params.get("scope")), self._language(params), [])
        if self._subscribers:
            self._notify(Event("commands"))
        return True

    # ---- receiving ------------------------------------------------------------------------------
    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Telegram's way: an update is handed out until a later call confirms it (an
        `offset` past its id), so a client that dies with an answer on the wire, as a bot
        stopped mid-poll does, loses nothing; the next poller gets it again."""
        offset = int(params.get("offset", 0) or 0)
        while self.unconfirmed and self.unconfirmed[0]["update_id"] < offset:
            self.unconfirmed.popleft()
        timeout = max(float(params.get("timeout", 0) or 0), 0.01)
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._take_queued():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return []
            # Short waits: another poll may take the update off the queue meanwhile, and
            # this one must see it then.
            try:
                self.unconfirmed.append(await asyncio.wait_for(self.updates.get(),
                                                               min(left, POLL_STEP)))
            except TimeoutError:
                continue
        limit = int(params.get("limit", 100) or 100)
        return list(itertools.islice(self.unconfirmed, limit))

    def _take_queued(self) -> bool:
        while not self.updates.empty():
            self.unconfirmed.append(self.updates.get_nowait())
        return bool(self.unconfirmed)

    async def api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def api_setWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count":
                self.updates.qsize() + len(self.unconfirmed)}

    async def api_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True


__all__ = ["BOT_ID", "BotApi", "Event"]

"""Telegram's HTML parse mode and its limits: what the person sees, its entities, and the
400 Telegram answers for a text, a caption or a keyboard it refuses (with its own
descriptions, so that a screen that passes here cannot fail on Telegram's limits)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

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

Attrs = tuple[tuple[str, str | None], ...]
# (tag, attributes, start, end), in code points of the text the person sees.
Entity = tuple[str, Attrs, int, int]


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


class _TelegramHTML(HTMLParser):
    """Telegram's HTML parse mode: the person sees the text, tags must be known and closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[tuple[str, Attrs, int]] = []
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


def checked_caption(caption: str) -> str:
    if utf16_length(caption.strip()) > MAX_CAPTION:
        raise BadRequest(CAPTION_TOO_LONG)
    return caption


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
        _check_button(button, inline=inline is not None)
    return markup


def _check_button(button: Any, *, inline: bool) -> None:
    text = button if isinstance(button, str) else button.get("text", "")
    if not str(text).strip():
        raise BadRequest(TEXT_INVALID)
    if not inline or isinstance(button, str):
        return
    if "callback_data" in button:
        data = str(button["callback_data"]).encode()
        if not 1 <= len(data) <= MAX_CALLBACK_DATA:
            raise BadRequest(DATA_INVALID)
    if "url" in button and not str(button["url"]).startswith(URL_SCHEMES):
        raise BadRequest(URL_INVALID)
    if "copy_text" in button:
        copied = button["copy_text"]
        if not isinstance(copied, dict) or not 1 <= len(str(copied.get("text", ""))) <= 256:
            raise BadRequest("Bad Request: BUTTON_COPY_TEXT_INVALID")


# ---- entities as the Bot API describes them ------------------------------------------------

_API_TYPES = {"b": "bold", "i": "italic", "u": "underline", "s": "strikethrough",
              "code": "code", "pre": "pre", "tg-spoiler": "spoiler", "blockquote": "blockquote",
              "tg-emoji": "custom_emoji"}
# What Telegram finds in any text by itself: links and commands the person can tap.
_URL = re.compile(r"(?:https?://|\bt\.me/)[^\s<>\"]+[^\s<>\".,;:!?)\]'»]")
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@\w+)?\b")


def _api_type(tag: str, attrs: dict[str, str | None]) -> dict[str, Any] | None:
    if tag == "a":
        href = attrs.get("href") or ""
        return {"type": "text_link", "url": href} if href else None
    if tag == "span":
        return {"type": "spoiler"} if attrs.get("class") == "tg-spoiler" else None
    if tag == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    kind = _API_TYPES.get(tag)
    return {"type": kind} if kind else None


def api_entities(text: str, entities: tuple[Entity, ...]) -> list[dict[str, Any]]:
    """The message's entities as the Bot API gives them: offsets and lengths in UTF-16 code
    units, the links and commands Telegram detects in the text added."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for tag, attrs, start, end in entities:
        kind = _api_type(tag, dict(attrs))
        if kind is not None:
            found.append((start, end, kind))
    covered = [(s, e) for s, e, k in found if k["type"] in ("pre", "code", "text_link")]
    for pattern, kind_name in ((_URL, "url"), (_COMMAND, "bot_command")):
        for match in pattern.finditer(text):
            start, end = match.span()
            if not any(s <= start < e for s, e in covered):
                found.append((start, end, {"type": kind_name}))
    found.sort(key=lambda f: (f[0], -f[1]))
    out = []
    for start, end, kind in found:
        offset = utf16_length(text[:start])
        out.append({**kind, "offset": offset, "length": utf16_length(text[start:end])})
    return out

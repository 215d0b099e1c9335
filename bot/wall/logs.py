"""The wall's server logs without its token.

aiohttp logs what it refuses: a request it cannot parse is logged (an error, traceback
and all) with the request line or header it quotes, and so the token in the path. Its
records go through a logger of the wall's own, whose filter writes every wall address as
`/wall/…` in the message and the traceback alike."""

from __future__ import annotations

import logging
import re

# The path's segment after /wall/, up to what ends it in a path, a query or a quoted line.
_WALL_ADDRESS = re.compile(r"/wall/[^/?#&\s'\"\\]+")
HIDDEN = "/wall/…"


def without_token(text: str) -> str:
    return _WALL_ADDRESS.sub(HIDDEN, text)


class WithoutToken(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = without_token(record.getMessage()), None
        if record.exc_info:  # formatted here, once: every handler then shows this text
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = without_token(record.exc_text)
        if record.stack_info:
            record.stack_info = without_token(record.stack_info)
        return True


def server_logger() -> logging.Logger:
    """The logger for the wall's server, its filter on (once, however many servers)."""
    logger = logging.getLogger("bot.wall.http")
    if not any(isinstance(f, WithoutToken) for f in logger.filters):
        logger.addFilter(WithoutToken())
    return logger

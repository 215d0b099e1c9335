"""/broadcast: an organizer writes, picks an audience, previews, sends now or later; a live
progress message with a Cancel button follows the sending.

compose     the organizer's dialogue, up to the broadcast's creation
progress    the progress message and its Cancel button
messages    the message as recipients see it, and the deliverer's renderer
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter

from handlers.broadcast.compose import (
    Compose,
    ComposeCB,
    broadcast_command,
    compose_pressed,
    text_written,
    when_written,
)
from handlers.broadcast.messages import broadcast_message, footer, make_renderers
from handlers.broadcast.progress import (
    CancelBroadcastCB,
    cancel_keyboard,
    cancel_pressed,
    progress_text,
    update_progress,
)
from handlers.doors import organizer_router

__all__ = ["CancelBroadcastCB", "Compose", "ComposeCB", "broadcast_message", "build_router",
           "cancel_keyboard", "footer", "make_renderers", "progress_text", "update_progress"]


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = organizer_router("broadcast")  # all of it
    router.message.register(broadcast_command, Command("broadcast"))
    router.message.register(text_written, StateFilter(Compose.text), F.text,
                            ~F.text.startswith("/"))
    router.message.register(when_written, StateFilter(Compose.when), F.text,
                            ~F.text.startswith("/"))
    router.callback_query.register(compose_pressed, ComposeCB.filter())
    router.callback_query.register(cancel_pressed, CancelBroadcastCB.filter())
    return router

"""The shape of an outbox renderer: each feature exports a `Renderers` map, one renderer a
kind, and the application checks at start-up that every kind has exactly one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from storage.outbox import Delivery, NoticeKind
from storage.users import Person

# The text and the sendMessage arguments, or None: no longer to be sent.
Rendered = tuple[str, dict[str, Any]] | None
Renderer = Callable[[Delivery, Person], Awaitable[Rendered]]
Renderers = dict[NoticeKind, Renderer]

"""One clock for the storage layer (aware UTC); tests move time by patching `utcnow`."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)

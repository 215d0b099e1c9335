"""Column defaults shared by the tables: datetimes are aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import clock


def utcnow() -> datetime:
    """Looked up on each call, so that tests moving the storage clock move defaults too."""
    return clock.utcnow()


# An epoch far in the past: "due now" without a NULL, so the queue index stays usable.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

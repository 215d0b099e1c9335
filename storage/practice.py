"""Practice cards: a new volunteer's rehearsal with a fictional contact. Nothing of it
reaches the queue, the call log, counts, rankings, streaks, milestones, the wall or the web:
only the person's own number of practice cards done, and `trained` once they made enough."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database
from storage.driver import SQL

# `seen`: the number the card was shown at. A second press on the same card, or on an old
# one, counts nothing (the count moved).
_COUNT = SQL.of(
    "UPDATE users SET practice_calls = practice_calls + 1, trained = (trained OR "
    "practice_calls + 1 >= :required) WHERE id = :id AND practice_calls = :seen "
    "RETURNING practice_calls, trained")
_READ = SQL.of("SELECT practice_calls, trained FROM users WHERE id = :id")


@dataclass(frozen=True)
class Practiced:
    counted: bool  # this press counted (False: a second press, or an old card)
    done: int  # practice cards done so far
    trained: bool  # may now get real cards


async def record_practice(db: Database, user_id: int, seen: int, required: int) -> Practiced:
    """Count a practice card's outcome; with `required` done, the person may call for real."""
    async with db.fast_write() as tx:
        row = await tx.one(_COUNT, id=user_id, seen=seen, required=required)
        counted = row is not None
        if row is None:
            row = await tx.one(_READ, id=user_id)
    if row is None:
        return Practiced(False, 0, False)
    done, trained = row
    return Practiced(counted, int(done), bool(trained))

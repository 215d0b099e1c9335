"""The people of the sandbox: a small cast who play a campaign, and whoever "New person"
adds (a fresh id each, forgotten at "Start again").

Interface for the sandbox's lifecycle (kept stable):
    Member(id, first_name, language_code, role)   role: "organizer" | "volunteer" | "supporter"
    CAST                                           Clément 1001, Lisa 1002, Nicolas 1003,
                                                   Fabrice 1004 (all French speakers)
    People(): .all(), .get(id), .add(first_name, language_code), .forget_newcomers()
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

MAX_NAME = 64  # Telegram's own limit on a first name


@dataclass(frozen=True)
class Member:
    id: int
    first_name: str
    language_code: str
    role: str  # "organizer" | "volunteer" | "supporter"

    def user(self) -> dict[str, Any]:
        """The person as Telegram describes them in an update."""
        return {"id": self.id, "is_bot": False, "first_name": self.first_name,
                "language_code": self.language_code}


CAST: tuple[Member, ...] = (
    Member(1001, "Clément", "fr", "organizer"),
    Member(1002, "Lisa", "fr", "volunteer"),
    Member(1003, "Nicolas", "fr", "volunteer"),
    Member(1004, "Fabrice", "fr", "supporter"),
)
FIRST_NEWCOMER = 2001


class People:
    """The cast and the newcomers, in the order of the page's tabs."""

    def __init__(self, cast: tuple[Member, ...] = CAST) -> None:
        self.cast = cast
        self._newcomers: dict[int, Member] = {}
        self._ids = itertools.count(FIRST_NEWCOMER)

    def all(self) -> list[Member]:
        return [*self.cast, *self._newcomers.values()]

    def get(self, person_id: int) -> Member | None:
        for member in self.cast:
            if member.id == person_id:
                return member
        return self._newcomers.get(person_id)

    def add(self, first_name: str, language_code: str) -> Member:
        member = Member(next(self._ids), first_name, language_code, "supporter")
        self._newcomers[member.id] = member
        return member

    def forget_newcomers(self) -> None:
        self._newcomers.clear()

"""Looking for a person everywhere in storage: every column of every row of every table the
schema declares (SQLModel.metadata), so that a table added later is searched too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel

from storage.database import Database


@dataclass(frozen=True)
class Someone:
    """What identifies a person: their Telegram id and what Telegram says of them."""

    id: int
    first_name: str
    last_name: str
    username: str
    phone: str

    def needles(self) -> list[str]:
        return [str(self.id), self.first_name, self.last_name, self.username, self.phone]

    def in_(self, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return False
        if isinstance(value, int):
            return value == self.id
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        if not isinstance(value, str):
            return False
        folded = value.casefold()
        return any(needle.casefold() in folded for needle in self.needles())


async def traces(db: Database, person: Someone) -> dict[str, list[str]]:
    """table -> "column=value" for every value that holds something of the person."""
    found: dict[str, list[str]] = {}
    async with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).mappings():
                for column, value in row.items():
                    if person.in_(value):
                        found.setdefault(table.name, []).append(f"{column}={value!r}")
    return found

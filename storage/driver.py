"""The hot path's own door to the database: SQL sent through the driver, no ORM in between.

Claiming a contact and recording a call happen thousands of times an hour, each inside the
one-writer-at-a-time window on SQLite. Through the ORM session each cost several times the
bare driver's time (statement building, session bookkeeping, and aiosqlite round trips to its
thread for cursor, execute, fetch and close). Here a statement is written once with `?`
markers, numbered for asyncpg, and run on the driver's connection: the SQLAlchemy pool's on
PostgreSQL; on SQLite a sqlite3 connection used right on the event loop, or aiosqlite's
thread when the database is busy or the work is long (see Database.fast_write).

Values cross in the ORM's own storage format (see `SqliteTx.value`), so rows written here
and through SQLModel read back the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's DATETIME storage format on SQLite


@dataclass(frozen=True)
class SQL:
    """One statement in both dialects: `?` markers; `{lock}` is FOR UPDATE SKIP LOCKED on
    PostgreSQL (nothing on SQLite), `{least}` the two-argument minimum of each."""

    sqlite: str
    postgres: str

    @classmethod
    def of(cls, text: str) -> SQL:
        pg = text.replace("{lock}", "FOR UPDATE SKIP LOCKED").replace("{least}", "LEAST")
        parts = pg.split("?")
        numbered = "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], start=1)) + parts[-1]
        return cls(text.replace("{lock}", "").replace("{least}", "min"), numbered)


class Tx(Protocol):
    async def one(self, sql: SQL, *args: Any) -> Sequence[Any] | None: ...
    async def all(self, sql: SQL, *args: Any) -> list[Sequence[Any]]: ...
    async def run(self, sql: SQL, *args: Any) -> int: ...
    async def many(self, sql: SQL, rows: list[Sequence[Any]]) -> None:
        """executemany; the rows' values must already be in the driver's form (`value`)."""

    def value(self, value: Any) -> Any:
        """A value as this driver stores it (a datetime becomes text on SQLite)."""


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(SQLITE_TIME)
    return value


def _sqlite_args(args: tuple[Any, ...]) -> list[Any]:
    return [sqlite_value(a) for a in args]


def read_time(value: Any) -> datetime | None:
    """A timestamp from either driver, as aware UTC."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if value is not None else None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class SqliteTx:
    def __init__(self, connection: Any) -> None:
        self.connection = connection  # aiosqlite.Connection

    async def all(self, sql: SQL, *args: Any) -> list[Sequence[Any]]:
        # execute_fetchall: one trip to aiosqlite's thread instead of cursor/execute/fetch/close.
        rows = await self.connection.execute_fetchall(sql.sqlite, _sqlite_args(args))
        return list(rows)

    async def one(self, sql: SQL, *args: Any) -> Sequence[Any] | None:
        rows = await self.all(sql, *args)
        return rows[0] if rows else None

    async def run(self, sql: SQL, *args: Any) -> int:
        cursor = await self.connection.execute(sql.sqlite, _sqlite_args(args))
        count = cursor.rowcount
        await cursor.close()
        return int(count)

    async def many(self, sql: SQL, rows: list[Sequence[Any]]) -> None:
        await self.connection.executemany(sql.sqlite, rows)

    def value(self, value: Any) -> Any:
        return sqlite_value(value)


class InlineSqliteTx:
    """sqlite3 used right on the event loop (see Database.fast_write for when and why)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection  # sqlite3.Connection

    async def all(self, sql: SQL, *args: Any) -> list[Sequence[Any]]:
        return self.connection.execute(sql.sqlite, _sqlite_args(args)).fetchall()

    async def one(self, sql: SQL, *args: Any) -> Sequence[Any] | None:
        return self.connection.execute(sql.sqlite,  # type: ignore[no-any-return]
                                       _sqlite_args(args)).fetchone()

    async def run(self, sql: SQL, *args: Any) -> int:
        return int(self.connection.execute(sql.sqlite, _sqlite_args(args)).rowcount)

    async def many(self, sql: SQL, rows: list[Sequence[Any]]) -> None:
        self.connection.executemany(sql.sqlite, rows)

    def value(self, value: Any) -> Any:
        return sqlite_value(value)


class PostgresTx:
    def __init__(self, connection: Any) -> None:
        self.connection = connection  # asyncpg.Connection

    async def all(self, sql: SQL, *args: Any) -> list[Sequence[Any]]:
        return list(await self.connection.fetch(sql.postgres, *args))

    async def one(self, sql: SQL, *args: Any) -> Sequence[Any] | None:
        return await self.connection.fetchrow(sql.postgres, *args)  # type: ignore[no-any-return]

    async def run(self, sql: SQL, *args: Any) -> int:
        status: str = await self.connection.execute(sql.postgres, *args)
        tail = status.rsplit(" ", 1)[-1]  # "UPDATE 3" -> 3
        return int(tail) if tail.isdigit() else 0

    async def many(self, sql: SQL, rows: list[Sequence[Any]]) -> None:
        await self.connection.executemany(sql.postgres, rows)

    def value(self, value: Any) -> Any:
        return value

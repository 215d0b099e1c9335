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

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Protocol

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's DATETIME storage format on SQLite


# A named parameter, `:name`, outside quotes; `::` (a PostgreSQL cast) is not one.
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_QUOTED = re.compile(r"('(?:[^']|'')*')")


@dataclass(frozen=True)
class SQL:
    """One statement in both dialects, written once with named parameters (`:now`):
    numbered `?1`/`$1` for each driver, so a value used twice is passed once, by keyword.
    On PostgreSQL `{lock}` is FOR UPDATE SKIP LOCKED and `{for_update}` FOR UPDATE (both
    nothing on SQLite, whose writers take turns); `{least}` is the two-argument minimum of
    each."""

    sqlite: str
    postgres: str
    names: tuple[str, ...] = ()
    _get: Callable[[Any], tuple[Any, ...]] = field(init=False, repr=False, compare=False)

    @classmethod
    def of(cls, text: str) -> SQL:
        return cls.dialects(text, text)

    @classmethod
    def dialects(cls, sqlite: str, postgres: str) -> SQL:
        """A statement each dialect writes its own way, with the same names."""
        lite = (sqlite.replace("{lock}", "").replace("{for_update}", "")
                .replace("{least}", "min"))
        pg = (postgres.replace("{lock}", "FOR UPDATE SKIP LOCKED")
              .replace("{for_update}", "FOR UPDATE").replace("{least}", "LEAST"))
        names = _names(lite)
        if names != _names(pg):
            raise ValueError(f"the dialects' names differ: {names} and {_names(pg)}")
        if any("?" in part for part in _QUOTED.split(lite)[::2]):
            raise ValueError("parameters are named (:name), never `?`")
        return cls(_numbered(lite, names, "?"), _numbered(pg, names, "$"), names)

    def __post_init__(self) -> None:
        # One getter made once: binding by name costs what binding in order did.
        object.__setattr__(self, "_get", _getter(self.names))

    def bind(self, params: dict[str, Any]) -> tuple[Any, ...]:
        """The values in the drivers' order, from the names."""
        if len(params) != len(self.names):
            raise self._mismatch(params)
        try:
            return self._get(params)
        except KeyError:
            raise self._mismatch(params) from None

    def bind_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[Sequence[Any]]:
        """executemany's rows, mappings by name."""
        return [self._get(row) for row in rows]

    def _mismatch(self, params: dict[str, Any]) -> TypeError:
        return TypeError(f"statement takes {sorted(self.names)}, got {sorted(params)}")


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        one = itemgetter(names[0])
        return lambda params: (one(params),)
    return lambda _params: ()


def _names(text: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for i, part in enumerate(_QUOTED.split(text)):
        if i % 2 == 0:  # outside quotes
            found.update(dict.fromkeys(_NAMED.findall(part)))
    return tuple(found)


def _numbered(text: str, names: tuple[str, ...], marker: str) -> str:
    index = {name: i for i, name in enumerate(names, start=1)}
    parts = _QUOTED.split(text)
    return "".join(part if i % 2 else _NAMED.sub(lambda m: f"{marker}{index[m[1]]}", part)
                   for i, part in enumerate(parts))


class Tx(Protocol):
    # "sqlite" or "postgres": for the few statements each dialect writes with other
    # parameters (a table from several arrays on PostgreSQL, from one JSON array on SQLite).
    dialect: str

    async def one(self, sql: SQL, **params: Any) -> Sequence[Any] | None: ...
    async def all(self, sql: SQL, **params: Any) -> list[Sequence[Any]]: ...
    async def run(self, sql: SQL, **params: Any) -> int: ...
    async def many(self, sql: SQL, rows: Sequence[Mapping[str, Any]]) -> None:
        """executemany over mappings by name; their values must already be in the driver's
        form (`value`)."""

    def value(self, value: Any) -> Any:
        """A value as this driver stores it (a datetime becomes text on SQLite)."""

    def array(self, values: Sequence[Any]) -> Any:
        """A list as one parameter: a PostgreSQL array (`unnest(:x::int[])`, `= ANY`), JSON
        text on SQLite (`json_each(:x)`). A statement over arrays writes its own dialects
        (`SQL.dialects`)."""


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(SQLITE_TIME)
    return value


def _sqlite_args(sql: SQL, params: dict[str, Any]) -> list[Any]:
    return [sqlite_value(a) for a in sql.bind(params)]


def read_time(value: Any) -> datetime | None:
    """A timestamp from either driver, as aware UTC."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if value is not None else None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class SqliteTx:
    dialect = "sqlite"

    def __init__(self, connection: Any) -> None:
        self.connection = connection  # aiosqlite.Connection

    async def all(self, sql: SQL, **params: Any) -> list[Sequence[Any]]:
        # execute_fetchall: one trip to aiosqlite's thread instead of cursor/execute/fetch/close.
        rows = await self.connection.execute_fetchall(sql.sqlite,
                                                      _sqlite_args(sql, params))
        return list(rows)

    async def one(self, sql: SQL, **params: Any) -> Sequence[Any] | None:
        rows = await self.all(sql, **params)
        return rows[0] if rows else None

    async def run(self, sql: SQL, **params: Any) -> int:
        cursor = await self.connection.execute(sql.sqlite, _sqlite_args(sql, params))
        count = cursor.rowcount
        await cursor.close()
        return int(count)

    async def many(self, sql: SQL, rows: Sequence[Mapping[str, Any]]) -> None:
        await self.connection.executemany(sql.sqlite, sql.bind_rows(rows))

    def value(self, value: Any) -> Any:
        return sqlite_value(value)

    def array(self, values: Sequence[Any]) -> Any:
        return json.dumps(values)


class InlineSqliteTx:
    """sqlite3 used right on the event loop (see Database.fast_write for when and why)."""

    dialect = "sqlite"

    def __init__(self, connection: Any) -> None:
        self.connection = connection  # sqlite3.Connection

    async def all(self, sql: SQL, **params: Any) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = self.connection.execute(
            sql.sqlite, _sqlite_args(sql, params)).fetchall()
        return rows

    async def one(self, sql: SQL, **params: Any) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.connection.execute(
            sql.sqlite, _sqlite_args(sql, params)).fetchone()
        return row

    async def run(self, sql: SQL, **params: Any) -> int:
        return int(self.connection.execute(sql.sqlite, _sqlite_args(sql, params)).rowcount)

    async def many(self, sql: SQL, rows: Sequence[Mapping[str, Any]]) -> None:
        self.connection.executemany(sql.sqlite, sql.bind_rows(rows))

    def value(self, value: Any) -> Any:
        return sqlite_value(value)

    def array(self, values: Sequence[Any]) -> Any:
        return json.dumps(values)


class PostgresTx:
    dialect = "postgres"

    def __init__(self, connection: Any) -> None:
        self.connection = connection  # asyncpg.Connection

    async def all(self, sql: SQL, **params: Any) -> list[Sequence[Any]]:
        return list(await self.connection.fetch(sql.postgres, *sql.bind(params)))

    async def one(self, sql: SQL, **params: Any) -> Sequence[Any] | None:
        row: Sequence[Any] | None = await self.connection.fetchrow(sql.postgres,
                                                                   *sql.bind(params))
        return row

    async def run(self, sql: SQL, **params: Any) -> int:
        status: str = await self.connection.execute(sql.postgres, *sql.bind(params))
        tail = status.rsplit(" ", 1)[-1]  # "UPDATE 3" -> 3
        return int(tail) if tail.isdigit() else 0

    async def many(self, sql: SQL, rows: Sequence[Mapping[str, Any]]) -> None:
        await self.connection.executemany(sql.postgres, sql.bind_rows(rows))

    def value(self, value: Any) -> Any:
        return value

    def array(self, values: Sequence[Any]) -> Any:
        return list(values)

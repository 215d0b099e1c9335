"""Engine, sessions and transactions for SQLite and PostgreSQL.

SQLite allows one writer at a time. Writers here take an in-process lock and open their
transaction with BEGIN IMMEDIATE: the lock keeps the bot's own writers in a fair queue (the
SQLite busy handler polls with sleeps, which ruins tail latency), and IMMEDIATE plus
busy_timeout keeps another process (the CLI importing while the bot runs) safe.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.driver import SQL, InlineSqliteTx, PostgresTx, SqliteTx, Tx

if TYPE_CHECKING:
    from storage.calling.hours import OpenZones

_IMMEDIATE = "toile_immediate"
INLINE_BUSY_MS = 20
WRITER_CACHE_KB = 65536
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                  "foreign_keys=ON")


class Database:
    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.in_memory = self.is_sqlite and self.url.database in (None, "", ":memory:")
        if self.in_memory:
            pass  # one shared connection (StaticPool): no pool to size
        elif self.is_sqlite:
            engine_kwargs.setdefault("pool_size", 8)
            engine_kwargs.setdefault("max_overflow", 8)
            engine_kwargs.setdefault("pool_timeout", 120)
        else:
            engine_kwargs.setdefault("pool_size", 16)
            engine_kwargs.setdefault("max_overflow", 16)
            engine_kwargs.setdefault("pool_timeout", 120)
        self.engine: AsyncEngine = create_async_engine(url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock()
        self._writer: Any = None  # SQLite: the hot path's connections (see fast_write)
        self._inline: dict[str, sqlite3.Connection] = {}
        # storage.calling.hours: per campaign, the minute and the zones of its queue open then.
        self.zone_cache: dict[int, tuple[datetime, OpenZones]] = {}
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _refuse_connections_left_in_a_transaction(self.engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work (a deferred transaction on SQLite)."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back on error."""
        if not self.is_sqlite:
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        async with self._write_lock, self.sessionmaker() as session, session.begin():
            # Procuring the connection with this option is what makes the BEGIN immediate.
            await session.connection(execution_options={_IMMEDIATE: True})
            yield session

    @asynccontextmanager
    async def fast_write(self, *, long: bool = False,
                         committed_first: tuple[SQL, dict[str, Any]] | None = None
                         ) -> AsyncIterator[Tx]:
        """A write transaction on the driver itself, for the hot path (storage.driver).

        On SQLite a short transaction runs right on the event loop: its statements take tens
        of microseconds, far less than the trips to a driver thread they would otherwise
        cost. If another process holds the database (the CLI importing), or for `long`
        work such as an import, it runs in aiosqlite's thread instead, which may wait.

        `committed_first` is a statement for others to see at once: on PostgreSQL it runs
        on the same connection, committed on its own, before the transaction begins; on
        SQLite, whose writers take turns anyway, first inside it."""
        if not self.is_sqlite:
            async with self.engine.connect() as sa_connection:
                raw = await sa_connection.get_raw_connection()
                driver: Any = raw.driver_connection  # asyncpg.Connection
                if committed_first is not None:  # outside a transaction block: autocommit
                    await _run(PostgresTx(driver), committed_first)
                async with driver.transaction():
                    yield PostgresTx(driver)
            return
        async with self._write_lock:
            inline = None if long else self._inline_connection("writer")
            if inline is not None and _begin_now(inline):
                transaction = _inline_transaction(inline)
            else:
                transaction = _async_transaction(await self._sqlite_writer())
            async with transaction as tx:
                if committed_first is not None:
                    await _run(tx, committed_first)
                yield tx

    @asynccontextmanager
    async def fast_read(self, *, long: bool = False) -> AsyncIterator[Tx]:
        """Single-statement reads on the driver (each statement sees one snapshot). On
        SQLite they run on the event loop; `long` ones (aggregates over whole tables, tens
        or hundreds of milliseconds) in aiosqlite's thread, so the bot keeps answering."""
        if self.is_sqlite and long:
            async with self.engine.connect() as sa_connection:
                raw = await sa_connection.get_raw_connection()
                yield SqliteTx(raw.driver_connection)
            return
        if self.is_sqlite:
            yield InlineSqliteTx(self._inline_connection("reader"))
            return
        async with self.engine.connect() as sa_connection:
            raw = await sa_connection.get_raw_connection()
            yield PostgresTx(raw.driver_connection)

    def _inline_connection(self, role: str) -> sqlite3.Connection:
        connection = self._inline.get(role)
        if connection is None:
            connection = sqlite3.connect(self._sqlite_path(), isolation_level=None,
                                         check_same_thread=False)
            for pragma in SQLITE_PRAGMAS:
                connection.execute(f"PRAGMA {pragma}")
            # Never sleep on the event loop: a locked database is left to the thread path.
            connection.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")
            self._inline[role] = connection
        return connection

    async def _sqlite_writer(self) -> Any:
        if self._writer is None:
            self._writer = await self._sqlite_connection()
            # Long writes (a proxy pass, an import) touch index pages all over: a page cache
            # of 64 MB, not 2, keeps them instead of reading them again (half a second of
            # system time in a national pass). Only this connection's: it grows as used.
            await self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KB}")
        return self._writer

    def _sqlite_path(self) -> str:
        if self.in_memory:  # a second connection would see another, empty database
            raise RuntimeError("Toile needs an SQLite database file, not :memory:")
        return self.url.database or ""

    async def _sqlite_connection(self) -> Any:
        import aiosqlite

        connection = await aiosqlite.connect(self._sqlite_path(), isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await connection.execute(f"PRAGMA {pragma}")
        return connection

    async def dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        for connection in self._inline.values():
            connection.close()
        self._inline.clear()
        await self.engine.dispose()


def _refuse_connections_left_in_a_transaction(engine: AsyncEngine) -> None:
    """A session cancelled at the wrong moment (a handler cut short at shutdown) can give
    its connection back to the pool still inside its transaction. The next user's BEGIN
    would then be a mere savepoint in it: work that looks committed, is not, and holds its
    row locks until the connection dies. The pool drops such a connection at checkout and
    hands out another (SQLAlchemy's DisconnectionError protocol).

    So too a connection the server closed (PostgreSQL restarted, its backends cut): the hot
    path talks to asyncpg itself, where SQLAlchemy never sees the error that would have it
    dropped, and the pool would hand the dead connection out again and again."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "_connection", None)  # asyncpg.Connection
        if driver is not None and driver.is_closed():
            raise exc.DisconnectionError("connection closed by the server")
        # asyncpg also remembers a transaction whose BEGIN was cut short (`_top_xact`): the
        # next transaction() would nest in it as a savepoint even if the server has none.
        if driver is not None and (driver.is_in_transaction()
                                   or getattr(driver, "_top_xact", None) is not None):
            raise exc.DisconnectionError("connection returned inside a transaction")


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def _run(tx: Tx, statement: tuple[SQL, dict[str, Any]]) -> None:
    sql, values = statement
    await tx.run(sql, **values)


def _begin_now(connection: sqlite3.Connection) -> bool:
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # locked by another process: wait in a thread instead
        return False
    return True


@asynccontextmanager
async def _inline_transaction(connection: sqlite3.Connection) -> AsyncIterator[Tx]:
    """COMMIT an inline transaction begun already. Whatever fails (a statement, COMMIT, a
    cancellation), the shared connection must not stay holding the write lock."""
    try:
        yield InlineSqliteTx(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


@asynccontextmanager
async def _async_transaction(connection: Any) -> AsyncIterator[Tx]:
    try:
        await connection.execute("BEGIN IMMEDIATE")
        yield SqliteTx(connection)
        await connection.commit()
    except BaseException:
        if connection.in_transaction:
            await connection.rollback()
        raise

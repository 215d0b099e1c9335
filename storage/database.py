"""Engine, sessions and transactions for SQLite and PostgreSQL.

SQLite allows one writer at a time. Writers here take an in-process lock and open their
transaction with BEGIN IMMEDIATE: the lock keeps the bot's own writers in a fair queue (the
SQLite busy handler polls with sleeps, which ruins tail latency), and IMMEDIATE plus
busy_timeout keeps another process (the CLI importing while the bot runs) safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.driver import PostgresTx, SqliteTx, Tx

_IMMEDIATE = "toile_immediate"
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
        self._writer: Any = None  # SQLite: the hot path's dedicated connections
        self._reader: Any = None
        self._open_lock = asyncio.Lock()
        if self.is_sqlite:
            _configure_sqlite(self.engine)

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
    async def fast_write(self) -> AsyncIterator[Tx]:
        """A write transaction on the driver itself, for the hot path (storage.driver)."""
        if self.is_sqlite:
            async with self._write_lock:
                connection = await self._sqlite_writer()
                try:
                    await connection.execute("BEGIN IMMEDIATE")
                    yield SqliteTx(connection)
                    await connection.commit()
                except BaseException:
                    # Whatever failed (BEGIN, a statement, COMMIT, a cancellation), the shared
                    # connection must not stay inside a transaction holding the write lock.
                    if connection.in_transaction:
                        await connection.rollback()
                    raise
            return
        async with self.engine.connect() as sa_connection:
            raw = await sa_connection.get_raw_connection()
            driver = raw.driver_connection  # asyncpg.Connection
            async with driver.transaction():  # type: ignore[union-attr]
                yield PostgresTx(driver)

    @asynccontextmanager
    async def fast_read(self) -> AsyncIterator[Tx]:
        """Single-statement reads on the driver (each statement sees one snapshot)."""
        if self.is_sqlite:
            if self._reader is None:
                async with self._open_lock:  # two first readers must not open two
                    if self._reader is None:
                        self._reader = await self._sqlite_connection()
            yield SqliteTx(self._reader)
            return
        async with self.engine.connect() as sa_connection:
            raw = await sa_connection.get_raw_connection()
            yield PostgresTx(raw.driver_connection)

    async def _sqlite_writer(self) -> Any:
        if self._writer is None:
            self._writer = await self._sqlite_connection()
        return self._writer

    async def _sqlite_connection(self) -> Any:
        import aiosqlite

        if self.in_memory:  # a second connection would see another, empty database
            raise RuntimeError("Toile needs an SQLite database file, not :memory:")
        connection = await aiosqlite.connect(self.url.database or "", isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await connection.execute(f"PRAGMA {pragma}")
        return connection

    async def dispose(self) -> None:
        for connection in (self._writer, self._reader):
            if connection is not None:
                await connection.close()
        self._writer = self._reader = None
        await self.engine.dispose()


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

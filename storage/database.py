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

_IMMEDIATE = "toile_immediate"


class Database:
    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        in_memory = self.is_sqlite and self.url.database in (None, "", ":memory:")
        if in_memory:
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

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

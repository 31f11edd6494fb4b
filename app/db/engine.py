"""Database engines: one URL from DATABASE_URL, async for the service, sync for migrations."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from app.db.errors import SUPPORTED, DatabaseUrlError
from app.db.text import clean_parameters

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def _url(database_url: str, drivers: dict[str, str]) -> URL:
    # Operators paste plain "postgresql://" or "postgres://" URLs; pick our drivers for them.
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise DatabaseUrlError(f"DATABASE_URL is not a database URL; use {SUPPORTED}") from None
    backend = url.get_backend_name()
    if backend not in drivers:
        raise DatabaseUrlError(f"DATABASE_URL: {backend} is not supported; use {SUPPORTED}")
    return url.set(drivername=drivers[backend])


def async_url(database_url: str) -> URL:
    return _url(database_url, ASYNC_DRIVERS)


def sync_url(database_url: str) -> URL:
    return _url(database_url, SYNC_DRIVERS)


def _tune_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, a busy timeout, and BEGIN IMMEDIATE so writers queue.

    Without IMMEDIATE, two transactions that both read then write deadlock and one fails with
    "database is locked" at once instead of waiting its turn.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(database_url: str) -> AsyncEngine:
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        # SQLite has one writer at a time. One pooled connection makes this process's transactions
        # queue fairly on the pool instead of sleeping in SQLite's busy handler, which backs off
        # for up to 100 ms per try and gives long tails under bursts.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0,
                                     pool_timeout=30)
        _tune_sqlite(engine.sync_engine)
        clean_parameters(engine.sync_engine)
        return engine
    # No overflow: connections opened for a burst would be closed again after it, and opening them
    # costs more than waiting for a pooled one.
    engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=0, pool_timeout=30)
    clean_parameters(engine.sync_engine)
    return engine


def create_sync_engine(database_url: str) -> Engine:
    url = sync_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        _tune_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    clean_parameters(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)

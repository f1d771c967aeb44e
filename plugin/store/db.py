"""Database engine and sessions: Postgres from DATABASE_URL, SQLite under instance/ when unset."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_FILENAME = "print_mirror.db"
# SQLite is shared by the web and worker processes: wait for a lock instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def database_url(configured: str, instance_path: str) -> str:
    """The SQLAlchemy URL: Heroku's postgres:// mapped to psycopg 3, SQLite when unset."""
    if not configured:
        return "sqlite:///" + os.path.join(instance_path, SQLITE_FILENAME)
    for prefix in ("postgres://", "postgresql://"):
        if configured.startswith(prefix):
            return "postgresql+psycopg://" + configured[len(prefix) :]
    return configured


def make_engine(url: str) -> Engine:
    """An engine with settings suited to the backend."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    # pre_ping: Heroku Postgres drops idle connections; a dead one must not fail a job.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web process read while a worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts the file; a power cut may drop the last commits, which the
    # ledger's note markers and the idempotent jobs tolerate. FULL would fsync every commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """The app's engine and session factory, one per Flask app."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def init_app(app: Flask) -> Database:
    """Create the app's Database from DATABASE_URL."""
    database = Database(database_url(app.config["DATABASE_URL"], app.instance_path))
    app.extensions["database"] = database
    return database

"""Connecting to the state database: URL defaults, SQLite tuning, and write locking.

SQLite gets WAL mode, a busy timeout and `BEGIN IMMEDIATE` for write transactions, so
concurrent writers queue for the lock instead of failing halfway through an audit append.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from safeship.core.errors import StoreError

DEFAULT_URL = "sqlite:///./.safeship/state.db"
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
# Execution option marking a connection as read-only, so SQLite starts a deferred transaction.
READ_ONLY = "safeship_read_only"
SQLITE_BUSY_TIMEOUT_S = 30.0


def default_url() -> str:
    """The database the CLI and server use unless told otherwise: $SAFESHIP_DB or ./.safeship."""
    return os.environ.get("SAFESHIP_DB") or DEFAULT_URL


def create_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite file's folder created and write locking set up."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise StoreError(
            f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
            "use sqlite:///path/to/state.db or postgresql+psycopg://user@host/db"
        )
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    _create_sqlite_folder(parsed.database)
    engine = sa.create_engine(
        parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _create_sqlite_folder(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder} for the state database: {exc}") from exc


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Take transaction control away from pysqlite so the "begin" hook decides how to begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front: two appenders never read the same last hash.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

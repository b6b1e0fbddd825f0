"""Insert-or-update (or insert-or-ignore) by key in one statement, on both supported dialects.

One statement (not select-then-write) so two writers saving the same id cannot both insert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def dialect_insert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ON CONFLICT support for the connection's dialect (PostgreSQL or SQLite)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert(conn: Connection, table: sa.Table, values: Mapping[str, Any], *, key: str) -> None:
    """Insert `values` into `table`, or overwrite the other columns of the row with that `key`."""
    stmt = dialect_insert(conn, table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[key], set_=_updates(stmt, values, key)))


def _updates(
    stmt: postgresql.Insert | sqlite.Insert, values: Mapping[str, Any], key: str
) -> dict[str, Any]:
    return {name: stmt.excluded[name] for name in values if name != key}

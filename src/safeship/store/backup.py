"""Backup and restore of the state database: a consistent snapshot out, one transaction in.

Backup: SQLite through the sqlite3 online backup API (a copy that is consistent while
writers keep going); PostgreSQL as a logical export — no pg_dump needed — of safeship's
tables, read in one REPEATABLE READ, read-only transaction, to gzip JSON lines: a header
naming the schema revision, then one line per row.

Restore (either format, into either database): in one transaction, migrate the target to
the backup's revision, insert every row, migrate to head, and verify the audit chain and
its signed checkpoints with the audit key — which is never in a backup (store/audit_key.py),
so it must be backed up and put back separately. A target holding rows is refused unless
`force`, which drops safeship's tables first. Nothing is committed if any step fails.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from safeship.core.errors import StoreError, UsageError
from safeship.store import audit as audit_rows
from safeship.store.audit_key import load_key, write_head
from safeship.store.engine import create_engine
from safeship.store.locks import MIGRATION_LOCK_KEY
from safeship.store.migrate import VERSION_TABLE, alembic_config

FORMAT = "safeship-backup/1"
SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH = 500


@dataclass(frozen=True)
class Summary:
    """What a backup wrote or a restore loaded."""

    revision: str
    rows: dict[str, int]
    audit_entries: int = 0
    checkpoints: int = 0


@cache
def safeship_tables() -> tuple[str, ...]:
    """Every table our migrations create (migrated into a scratch database to find out), so
    a backup never takes, and a forced restore never drops, anything else in the database."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        names = sa.inspect(conn).get_table_names()
    engine.dispose()
    return tuple(sorted(n for n in names if n != VERSION_TABLE))


def backup(url: str, path: Path) -> Summary:
    """Write a consistent snapshot of the database at `url` to `path` (replaced atomically)."""
    engine = create_engine(url)
    partial = path.with_name(path.name + ".partial")
    try:
        if engine.dialect.name == "sqlite":
            summary = _sqlite_copy(engine, partial)
        else:
            summary = _export(engine, partial)
        os.replace(partial, path)
        return summary
    except (OSError, sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup to {path} failed: {exc}") from exc
    finally:
        engine.dispose()


def _sqlite_copy(engine: Engine, path: Path) -> Summary:
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        with sqlite3.connect(path) as target:
            source.backup(target)
        target.close()
    finally:
        raw.close()
    copy = sa.create_engine(f"sqlite:///{path}")
    with copy.connect() as conn:
        summary = Summary(_revision(conn), {t: n for t, n in _counts(conn)})
    copy.dispose()
    return summary


def _export(engine: Engine, path: Path) -> Summary:
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        revision = _revision(conn)
        counts: dict[str, int] = {}
        with gzip.open(path, "wt", encoding="utf-8") as out:
            header = {"format": FORMAT, "revision": revision, "dialect": conn.dialect.name}
            out.write(json.dumps(header) + "\n")
            for table, row in _rows(conn):
                out.write(json.dumps({"table": table, "row": row}, allow_nan=True) + "\n")
                counts[table] = counts.get(table, 0) + 1
    return Summary(revision, counts)


def _revision(conn: Connection) -> str:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    revision = context.get_current_revision()
    if revision is None:
        raise StoreError("the database was never migrated: nothing to back up")
    return revision


def _present(conn: Connection) -> list[sa.Table]:
    names = set(sa.inspect(conn).get_table_names())
    meta = sa.MetaData()
    return [sa.Table(n, meta, autoload_with=conn) for n in safeship_tables() if n in names]


def _rows(conn: Connection) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every row of safeship's tables, table by table, in key order."""
    for table in _present(conn):
        for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)):
            yield table.name, row._asdict()


def _counts(conn: Connection) -> Iterator[tuple[str, int]]:
    for table in _present(conn):
        yield table.name, conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def restore(path: Path, url: str, *, force: bool = False) -> Summary:
    """Load the backup at `path` into the database at `url` in one transaction (see above)."""
    engine = create_engine(url)
    try:
        with _source(path) as (revision, rows), engine.begin() as conn:
            _check_known(revision)
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            _prepare(conn, revision, force=force)
            counts = _load(conn, rows)
            command.upgrade(alembic_config(conn), "head")
            summary, keep_head = _verified(conn, url, revision, counts)
        keep_head()  # committed: the head file beside the key follows the restored chain
    except (sa.exc.SQLAlchemyError, OSError, ValueError) as exc:
        raise StoreError(f"restore of {path} failed, nothing was changed: {exc}") from exc
    finally:
        engine.dispose()
    return summary


def _check_known(revision: str) -> None:
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError as exc:
        raise UsageError(
            f"the backup is at schema revision {revision!r}, which this safeship does not know:"
            " restore it with the safeship version that made it, or a newer one"
        ) from exc


def _prepare(conn: Connection, revision: str, *, force: bool) -> None:
    """Leave the target empty at `revision`: refuse rows unless `force` (then drop them)."""
    filled = [(t, n) for t, n in _counts(conn) if n]
    if filled and not force:
        found = ", ".join(f"{n} in {t}" for t, n in filled)
        raise UsageError(
            f"the target database is not empty ({found}): restore into a fresh database,"
            " or pass --force to replace its contents"
        )
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    if filled or context.get_current_revision() not in (None, revision):
        _drop(conn)
    command.upgrade(alembic_config(conn), revision)


def _drop(conn: Connection) -> None:
    cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
    for name in (*safeship_tables(), VERSION_TABLE):
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"{cascade}'))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP FUNCTION IF EXISTS safeship_append_only() CASCADE"))


def _load(conn: Connection, rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    tables = {t.name: t for t in _present(conn)}
    counts: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    current: str | None = None
    for name, row in itertools.chain(rows, [("", {})]):  # a sentinel flushes the last batch
        if (name != current or len(batch) >= BATCH) and batch and current is not None:
            conn.execute(sa.insert(tables[current]), batch)
            counts[current] = counts.get(current, 0) + len(batch)
            batch = []
        if name and name not in tables:
            raise ValueError(f"the backup holds table {name!r}, unknown at its own revision")
        current = name
        batch.append(row)
    if conn.dialect.name == "postgresql":
        _advance_sequences(conn, tables.values())
    return counts


def _advance_sequences(conn: Connection, tables: Iterable[sa.Table]) -> None:
    """Rows came with their ids: move each serial past them, or the next insert collides."""
    for table in tables:
        for column in table.primary_key.columns:
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": table.name, "c": column.name},
            ).scalar()
            top = conn.execute(sa.select(sa.func.max(column))).scalar()
            if sequence is not None and top is not None:
                conn.execute(sa.text("SELECT setval(:s, :v)"), {"s": sequence, "v": top})


def _verified(
    conn: Connection, url: str, revision: str, counts: dict[str, int]
) -> tuple[Summary, Callable[[], None]]:
    """Check the restored chain with the audit key before committing; and how to record its
    newest checkpoint beside the key once committed (a later head would read as truncation)."""
    key = load_key(url, create=False)
    result = audit_rows.verify(conn, key=key.secret if key else None, head=None)
    if not result.ok:
        hint = (
            " — put the audit key of the backed-up database back first"
            " ($SAFESHIP_AUDIT_KEY_FILE or audit.key beside the database)"
        )
        raise StoreError(f"the restored audit log does not verify: {result.problem}{hint}")
    checkpoints = audit_rows.checkpoints(conn)
    genesis = audit_rows.genesis_hash(conn)

    def keep_head() -> None:
        if key is not None and checkpoints and genesis is not None:
            write_head(key, genesis, checkpoints[-1])

    return Summary(revision, counts, result.checked, len(checkpoints)), keep_head


@contextmanager
def _source(path: Path) -> Iterator[tuple[str, Iterator[tuple[str, dict[str, Any]]]]]:
    """The backup's revision and its rows, from a SQLite copy or a JSON-lines export."""
    with path.open("rb") as f:
        magic = f.read(len(SQLITE_MAGIC))
    if magic == SQLITE_MAGIC:
        engine = sa.create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
        try:
            with engine.connect() as conn:
                yield _revision(conn), _rows(conn)
        finally:
            engine.dispose()
        return
    if not magic.startswith(b"\x1f\x8b"):
        raise UsageError(f"{path} is not a safeship backup (neither SQLite nor gzip)")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        header = json.loads(next(lines, "{}"))
        if header.get("format") != FORMAT:
            raise UsageError(f"{path} is not a safeship backup ({FORMAT} header missing)")
        yield str(header["revision"]), (_line(text) for text in lines)


def _line(text: str) -> tuple[str, dict[str, Any]]:
    parsed = json.loads(text)
    return str(parsed["table"]), dict(parsed["row"])

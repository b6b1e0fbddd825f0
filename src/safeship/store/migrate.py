"""Schema migrations, run in code: `Store.open` upgrades the database to the newest revision.

No alembic.ini on disk: the Alembic config is built here and points at `migrations/`.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from safeship.store.locks import MIGRATION_LOCK_KEY

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "safeship_alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for our migrations; `connection` is the one env.py migrates through."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = VERSION_TABLE
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of safeship."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations/versions holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to head in one transaction; concurrent openers wait for each other."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # SQLite's BEGIN IMMEDIATE already serialises; PostgreSQL needs an explicit lock.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(conn), "head")

"""An attacker with SQL and DDL rights on the state database, for the audit tests."""

from __future__ import annotations

import sqlalchemy as sa

TABLES = ("audit", "audit_checkpoints")


def tamper(url: str, *statements: str, **params: object) -> None:
    """Switch the append-only triggers off (as the database owner could), then run SQL."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in TABLES:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                for verb in ("update", "delete"):
                    conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        for statement in statements:
            conn.execute(sa.text(statement), params)
    engine.dispose()

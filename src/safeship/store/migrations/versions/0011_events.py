"""Event analytics: windows per stream, series and resolution; seen ids; dead letters;
roll-up marks (events/storage.py).

Plain indexed tables on both dialects: TimescaleDB is not assumed (hypertables would need
the extension), and PostgreSQL partitions are not needed at these row counts (a 30-day
1m range of one service is 43,200 rows read through the primary key).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "event_windows",
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("labels", sa.String(2048), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.Double()) for name in ("p50", "p95", "p99", "latency_max")),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("resolution_s", "stream", "labels", "start"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_event_windows_service", "event_windows", ["resolution_s", "service", "start"]
    )
    op.create_table(
        "event_ids",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("ids", sa.Text(), nullable=False),
    )
    op.create_index("ix_event_ids_stream_start", "event_ids", ["stream", "start"])
    op.create_table(
        "event_dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
    )
    op.create_table(
        "event_rollup_marks",
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stream", "resolution_s"),
    )


def downgrade() -> None:
    op.drop_table("event_rollup_marks")
    op.drop_table("event_dead_letters")
    op.drop_index("ix_event_ids_stream_start", "event_ids")
    op.drop_table("event_ids")
    op.drop_index("ix_event_windows_service", "event_windows")
    op.drop_table("event_windows")

"""Metric rollups: series identities and their 1m / 5m / 1h buckets (metrics/retention.py).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("labels_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("labels", sa.JSON(), nullable=False),
    )
    op.create_table(
        "metric_rollups",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Double()) for name in ("sum", "min", "max", "first", "last")),
        sa.Column("increase", sa.Double()),
        sa.PrimaryKeyConstraint("resolution_s", "series_id", "bucket_start"),
        # On SQLite the rows live in the key's own B-tree: half the writes of a rowid table.
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("metric_rollups")
    op.drop_table("metric_series")

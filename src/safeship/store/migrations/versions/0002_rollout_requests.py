"""Rollout requests: pause, resume, promote, abort, rollback written by the CLI for the
controller that runs the rollout to pick up.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "rollout_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("handled_at", sa.Double(), nullable=True),
    )
    op.create_index("ix_rollout_requests_pending", "rollout_requests", ["rollout_id", "handled_at"])


def downgrade() -> None:
    op.drop_index("ix_rollout_requests_pending", table_name="rollout_requests")
    op.drop_table("rollout_requests")

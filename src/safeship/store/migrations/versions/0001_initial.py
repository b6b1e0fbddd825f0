"""Initial schema: rollouts, services and the hash-chained audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("from_version", sa.String(128), nullable=True),
        sa.Column("to_version", sa.String(128), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("phase", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("spec", _JSON, nullable=False),
        sa.Column("status", _JSON, nullable=False),
        sa.Column("steps_hash", sa.String(128), nullable=False, server_default=""),
    )
    op.create_index("ix_rollouts_service_created", "rollouts", ["service", "created_at"])
    op.create_table(
        "services",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("stable_version", sa.String(128), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("rollout_id", sa.String(128), nullable=True),
        sa.Column("service", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_rollout_id", "audit", ["rollout_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_rollout_id", table_name="audit")
    op.drop_table("audit")
    op.drop_table("services")
    op.drop_index("ix_rollouts_service_created", table_name="rollouts")
    op.drop_table("rollouts")

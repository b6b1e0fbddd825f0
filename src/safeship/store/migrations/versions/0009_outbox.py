"""The notification outbox: every notification persisted before it is sent (store/outbox.py).

One row per (receiver, integration, group key, sequence); `notification_id` is a hash of
those four, unique, so submitting the same notification twice inserts nothing the second
time (a hash rather than the four columns: a group key can outgrow an index entry).
`stream` hashes (receiver, integration, group key): a group's rows are delivered in order.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(64), nullable=False, unique=True),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("receiver", sa.String(256), nullable=False),
        sa.Column("integration", sa.String(64), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | dead
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),  # scrubbed of secrets
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Index("ix_notification_outbox_due", "status", "next_attempt_at"),
        sa.Index("ix_notification_outbox_stream", "stream", "sequence"),
    )


def downgrade() -> None:
    op.drop_table("notification_outbox")

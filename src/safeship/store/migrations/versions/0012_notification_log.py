"""The notification log: what each alert group's receiver was last told (store/notification_log.py).

One row per aggregation group key (Alertmanager's nflog): the last sequence, the alerts
notified firing and resolved (fingerprints), and when. Written in the same transaction as
the outbox rows of that notification, so after a restart sequences keep increasing (the
outbox de-duplicates on them) and `repeat_interval` holds. `key_hash` (sha256 of the group
key) is the key: a group key can outgrow an index entry.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "notification_log",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column(
            "firing", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "resolved", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notification_log")

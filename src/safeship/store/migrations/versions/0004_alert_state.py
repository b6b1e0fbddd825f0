"""Alert state: every pending, firing or recently resolved alert of the rule manager.

One row per alert (group, rule, alert labels), rewritten once per group evaluation by
alerting/manager.py, so `for` and `keep_firing_for` survive a restart of `safeship serve`.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("group_key", sa.Text(), nullable=False),  # rule file ; group name
        sa.Column("rule_name", sa.Text(), nullable=False),
        sa.Column("labels_hash", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_at", sa.BigInteger(), nullable=False),  # ms since the epoch
        sa.Column("fired_at", sa.BigInteger()),
        sa.Column("resolved_at", sa.BigInteger()),
        sa.Column("last_value", sa.Double()),  # SQLite stores NaN as NULL
        sa.Column("keep_firing_since", sa.BigInteger()),
        sa.PrimaryKeyConstraint("group_key", "rule_name", "labels_hash"),
    )


def downgrade() -> None:
    op.drop_table("alert_state")

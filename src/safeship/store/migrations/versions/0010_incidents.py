"""Incidents, their timeline and the actions they asked for (store/incidents.py).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("definition", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("group_labels", sa.JSON(), nullable=False),
        sa.Column("service", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("acknowledged_at", sa.Double(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("escalated_at", sa.Double(), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("quiet_since", sa.Double(), nullable=True),
        sa.Column("alerts", sa.JSON(), nullable=False),
    )
    op.create_index("ix_incidents_status", "incidents", ["status", "opened_at"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_incident_timeline_incident", "incident_timeline", ["incident_id", "id"])
    op.create_table(
        "incident_actions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("definition", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("requested_at", sa.Double(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("claimed_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
    )
    op.create_index(
        "ix_incident_actions_cooldown", "incident_actions", ["definition", "key", "service"]
    )
    op.create_index("ix_incident_actions_state", "incident_actions", ["state"])


def downgrade() -> None:
    op.drop_index("ix_incident_actions_state", table_name="incident_actions")
    op.drop_index("ix_incident_actions_cooldown", table_name="incident_actions")
    op.drop_table("incident_actions")
    op.drop_index("ix_incident_timeline_incident", table_name="incident_timeline")
    op.drop_table("incident_timeline")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_table("incidents")

"""The tables behind the store (SQLAlchemy Core). Migrations create them; repositories query them.

Changing a table here needs a new Alembic revision in `migrations/versions/`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

# JSONB on PostgreSQL for indexing and compact storage; plain JSON text elsewhere.
JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

rollouts = sa.Table(
    "rollouts",
    metadata,
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
    sa.Column("spec", JsonDocument, nullable=False),
    sa.Column("status", JsonDocument, nullable=False),
    sa.Column("steps_hash", sa.String(128), nullable=False, server_default=""),
    sa.Index("ix_rollouts_service_created", "service", "created_at"),
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("stable_version", sa.String(128), nullable=True),
    sa.Column("updated_at", sa.Double(), nullable=False),
)

# Append-only: ids are assigned under the chain lock (last id + 1), never by a sequence,
# so the id order is exactly the chain order.
audit = sa.Table(
    "audit",
    metadata,
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
    sa.Index("ix_audit_rollout_id", "rollout_id"),
)

# Signed chain heads (migration 0005): an HMAC, with a key kept outside the database, of
# (entry id, entry hash), so a deleted tail or a rewritten chain shows at `audit verify`.
audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("entry_id", sa.Integer(), nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(64), nullable=False),
)

# Commands from people to a running rollout; the controller marks each handled in the same
# transaction as the status it led to.
rollout_requests = sa.Table(
    "rollout_requests",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("rollout_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Column("options", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("handled_at", sa.Double(), nullable=True),
    sa.Index("ix_rollout_requests_pending", "rollout_id", "handled_at"),
)

# API tokens (migration 0006): `id` is the public lookup part of the token, `hash` a keyed
# hash of its secret part (store/tokens.py says why a fast hash suffices); the token itself
# is shown once and never stored.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("last_used_at", sa.Double(), nullable=True),
)

# One row per thing that has a single leader (migration 0007): the control plane, or one
# service's rollout. `token` is the fencing token; see store/lease.py.
leader_lease = sa.Table(
    "leader_lease",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(256), nullable=False),
    sa.Column("token", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
)

# Incidents (migration 0010): alerts grouped into something a person owns. `alerts` holds the
# incident's alerts by fingerprint; the timeline is append-only; each action an incident asks
# for is a row written before it runs (state `requested`, then `running` once a manager claims
# it, until done), which also keeps the per-(definition, action, service) cooldowns across
# restarts.
incidents = sa.Table(
    "incidents",
    metadata,
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
    sa.Index("ix_incidents_status", "status", "opened_at"),
)

incident_timeline = sa.Table(
    "incident_timeline",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(32), nullable=False),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Index("ix_incident_timeline_incident", "incident_id", "id"),
)

incident_actions = sa.Table(
    "incident_actions",
    metadata,
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
    sa.Index("ix_incident_actions_cooldown", "definition", "key", "service"),
    sa.Index("ix_incident_actions_state", "state"),
)

# Silences (migration 0008): matchers as Alertmanager writes them (`name="value"`), parsed
# and checked by alerting/silences.py before they are stored.
silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("matchers", JsonDocument, nullable=False),
    sa.Column("starts_at", sa.Double(), nullable=False),
    sa.Column("ends_at", sa.Double(), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
)

# The notification outbox (migration 0009; store/outbox.py): a notification is a row before
# it is sent, and stays one (delivered or dead) after.
notification_outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(64), nullable=False, unique=True),
    sa.Column("stream", sa.String(64), nullable=False),
    sa.Column("receiver", sa.String(256), nullable=False),
    sa.Column("integration", sa.String(64), nullable=False),
    sa.Column("group_key", sa.Text(), nullable=False),
    sa.Column("sequence", sa.BigInteger(), nullable=False),
    sa.Column("payload", JsonDocument, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Double(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("delivered_at", sa.Double(), nullable=True),
    sa.Index("ix_notification_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_notification_outbox_stream", "stream", "sequence"),
)

# The notification log (migration 0012; store/notification_log.py): per alert group, what
# its receiver was last told; written with the outbox rows of that notification.
notification_log = sa.Table(
    "notification_log",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("group_key", sa.Text(), nullable=False),
    sa.Column("sequence", sa.BigInteger(), nullable=False),
    sa.Column("firing", JsonDocument, nullable=False),
    sa.Column("resolved", JsonDocument, nullable=False),
    sa.Column("at_ms", sa.BigInteger(), nullable=False),
)

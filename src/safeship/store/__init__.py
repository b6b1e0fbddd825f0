"""Persistent state: rollouts and the hash-chained audit log (SQLite or PostgreSQL).

Every state change flows here (see DESIGN.md §2); the API, SSE and CLI read it back.
"""

from safeship.core.errors import StoreError
from safeship.core.secrets import redact
from safeship.store.engine import DEFAULT_URL, default_url
from safeship.store.records import AuditEntry, AuditVerification, RolloutRecord, RolloutResult
from safeship.store.repository import Store
from safeship.store.transaction import Transaction

__all__ = [
    "DEFAULT_URL",
    "AuditEntry",
    "AuditVerification",
    "RolloutRecord",
    "RolloutResult",
    "Store",
    "StoreError",
    "Transaction",
    "default_url",
    "redact",
]

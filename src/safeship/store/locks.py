"""PostgreSQL advisory lock keys: stable 64-bit numbers so every process agrees on them."""

from __future__ import annotations

import hashlib


def advisory_key(name: str) -> int:
    """A signed 64-bit key derived from `name` (pg_advisory_*lock takes a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


AUDIT_LOCK_KEY = advisory_key("safeship.audit.append")
MIGRATION_LOCK_KEY = advisory_key("safeship.schema.migrate")

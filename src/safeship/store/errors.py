"""The one error the store raises on purpose: the database cannot be opened or used."""

from __future__ import annotations

from safeship.core.errors import SafeshipError


class StoreError(SafeshipError):
    """The state database is unreachable, unsupported or not at the expected schema."""

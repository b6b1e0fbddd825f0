"""The one error PromQL evaluation raises: what went wrong and, when known, where."""

from __future__ import annotations

from safeship.core.errors import SafeshipError


class PromQLError(SafeshipError):
    """A query that cannot be parsed or evaluated; `position` is a 0-based offset or None."""

    def __init__(self, message: str, *, expr: str = "", position: int | None = None) -> None:
        self.message = message
        self.expr = expr
        self.position = position
        where = f"at char {position + 1}: " if position is not None else ""
        super().__init__(f"{where}{message}")

"""The errors PromQL raises: what went wrong and, when known, where.

A query the parser refuses is the caller's bad input (Prometheus answers `bad_data`, 400);
one that parses but cannot be evaluated is an `execution` error (422). The two are two
classes so the server reads the status off the class, not off the message.
"""

from __future__ import annotations

from typing import ClassVar

from safeship.core.errors import QueryError


class PromQLError(QueryError):
    """A query that cannot be evaluated; `position` is a 0-based offset or None."""

    def __init__(self, message: str, *, expr: str = "", position: int | None = None) -> None:
        self.message = message
        self.expr = expr
        self.position = position
        where = f"at char {position + 1}: " if position is not None else ""
        super().__init__(f"{where}{message}")


class PromQLSyntaxError(PromQLError):
    """A query that does not parse; Prometheus calls this bad data."""

    http_status: ClassVar[int] = 400

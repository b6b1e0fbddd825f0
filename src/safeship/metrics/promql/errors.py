"""The errors PromQL parsing and evaluation raise: what went wrong and, when known, where."""

from __future__ import annotations

from typing import ClassVar

from safeship.core.errors import QueryError


class PromQLError(QueryError):
    """A query that cannot be parsed or evaluated; `position` is a 0-based offset into
    `expr`, or None for an evaluation error. Parse errors read like Prometheus's
    ("1:5: parse error: ..."), so API clients and `rules test` show the same text."""

    def __init__(self, message: str, *, expr: str = "", position: int | None = None) -> None:
        self.message = message
        self.expr = expr
        self.position = position
        super().__init__(f"{_where(expr, position)}{message}")


def _where(expr: str, position: int | None) -> str:
    if position is None:
        return ""
    line = expr.count("\n", 0, position) + 1
    column = position - (expr.rfind("\n", 0, position) + 1) + 1
    return f"{line}:{column}: parse error: "


class PromQLSyntaxError(PromQLError):
    """A query that does not parse; Prometheus calls this bad data."""

    http_status: ClassVar[int] = 400


class LocatedError(PromQLError):
    """A parse-time error found while evaluating (an unknown function, a bad regex): the
    engine's entry points turn it into a PromQLError pointing at `token` in the query."""

    def __init__(self, message: str, *, token: str) -> None:
        super().__init__(message)
        self.token = token

"""How long the router waits for clients and backends, and how many connections it opens."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    """Seconds the router waits for clients and backends; `max_connections` caps open
    connections per backend (None: no cap); requests over the cap queue for one."""

    idle: float = 60.0
    header: float = 10.0
    response: float = 60.0
    connect: float = 2.0
    max_connections: int | None = None

    def problems(self) -> list[str]:
        """What makes these unusable; empty when they are fine."""
        out = [f"{n} timeout must be > 0, found {v}" for n, v in self._seconds() if not v > 0]
        if self.max_connections is not None and self.max_connections < 1:
            out.append(f"max connections must be >= 1, found {self.max_connections}")
        return out

    def _seconds(self) -> list[tuple[str, float]]:
        return [(n, getattr(self, n)) for n in ("idle", "header", "response", "connect")]

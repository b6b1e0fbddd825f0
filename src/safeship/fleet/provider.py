"""The Provider protocol: how the fleet is observed and changed.

Every change is declarative and idempotent ("version v has n ready replicas"), so the
reconciler can replay an action after a crash without harm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Replica:
    """One running instance of one version, reachable at host:port."""

    id: str
    version: str
    host: str
    port: int
    healthy: bool = True

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Provider(Protocol):
    """A fleet that can run replicas of versions of one service."""

    async def replicas(self) -> list[Replica]:
        """Every replica currently running, of every version."""
        ...

    async def scale(self, version: str, count: int) -> list[Replica]:
        """Make exactly `count` healthy replicas of `version` run; return them.

        Starting replicas waits until each is healthy; a replica that cannot start raises
        `DeployError` with the tail of its stderr. Scaling down stops the extra replicas
        gracefully. Calling it again with the same arguments changes nothing.
        """
        ...

    async def close(self) -> None:
        """Stop every replica this provider started (on exit, success or failure)."""
        ...

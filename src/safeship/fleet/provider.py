"""The Provider protocol: how the fleet is observed and changed.

Every change is declarative and idempotent ("version v has n ready replicas", "target t runs
version v"), so the reconciler can replay an action after a crash without harm.

Two views of one fleet:
- pools (`replicas`, `scale`): anonymous replicas per version, for the traffic strategies
  (canary, trafficSplit, blueGreen), where the router decides who gets which version;
- targets (`targets`, `deploy`): named places with labels, each running at most one version,
  for the target strategies (rolling, waves), where moving a target *is* the rollout.
A target that runs a version also appears in `replicas()` (its `Target.replica`), so the
router can send traffic to it.

A pool replica has a `role`: "main" (the version's own pool) or "baseline" (a fresh pool of
the stable version started beside the canary, Kayenta style). The role, not a second version
name, tells them apart: both run the same build and report the same version, but only main
replicas are counted by `scale(version, n)` and routed as the stable pool.
"""

from __future__ import annotations

from typing import Protocol

from safeship.core.types import MAIN, Replica, Role, Target


class Provider(Protocol):
    """A fleet that can run replicas of versions of one service."""

    async def replicas(self) -> list[Replica]:
        """Every replica currently running, of every version (targets' replicas included)."""
        ...

    async def scale(self, version: str, count: int, *, role: Role = MAIN) -> list[Replica]:
        """Make exactly `count` healthy pool replicas of `version` in `role` run; return them.

        Starting replicas waits until each is healthy; a replica that cannot start raises
        `DeployError` with the tail of its stderr. Scaling down stops the extra replicas
        gracefully. Calling it again with the same arguments changes nothing. Replicas of
        targets, and of the other role, are not counted or touched.
        """
        ...

    async def targets(self) -> list[Target]:
        """Every target of the fleet, in a stable order, with what runs there now."""
        ...

    async def deploy(self, target: str, version: str | None) -> Target:
        """Make `target` run `version` (None: run nothing there); return it once healthy.

        Idempotent: a target already running `version` healthily is left alone. A version
        that cannot start raises `DeployError`; the target then keeps what it ran before
        (or runs nothing). An unknown target name raises `KeyError`.
        """
        ...

    async def close(self) -> None:
        """Stop every replica this provider started (on exit, success or failure)."""
        ...

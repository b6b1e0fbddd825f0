"""rolling: the targets in batches (a count or a share of the fleet); each batch is drained,
deployed and health-gated (optionally analysed) before the next one starts."""

from __future__ import annotations

from collections.abc import Sequence

from safeship.config.models import RolloutSpec
from safeship.config.strategies import RollingStrategy, share_of
from safeship.rollout.steps import Deploy, Pause, Step, TargetRef
from safeship.rollout.strategies.common import analysis_of, verify_tail


def compile_rolling(
    spec: RolloutSpec, rolling: RollingStrategy, targets: Sequence[TargetRef]
) -> list[Step]:
    names = [t.name for t in targets]
    size = share_of(rolling.batch_size, len(names)) if names else 1
    batches = [tuple(names[i : i + size]) for i in range(0, len(names), size)]
    steps: list[Step] = []
    for number, batch in enumerate(batches, start=1):
        steps.append(_deploy(rolling, batch, f"batch {number}/{len(batches)}"))
        if rolling.analysis is not None:
            steps.append(analysis_of(rolling.analysis))
        if rolling.pause_between_batches > 0 and number < len(batches):
            steps.append(Pause(rolling.pause_between_batches))
    return steps + verify_tail(spec)


def _deploy(rolling: RollingStrategy, batch: tuple[str, ...], label: str) -> Deploy:
    parallel = share_of(rolling.max_unavailable, len(batch)) + rolling.max_surge
    return Deploy(
        targets=batch,
        label=label,
        parallel=parallel,
        drain=rolling.max_surge == 0,
        health_timeout=rolling.health_timeout,
    )

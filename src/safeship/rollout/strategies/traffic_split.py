"""trafficSplit: canary weight in stages, a check every interval, a stable period to advance.

Each stage compiles to setWeight then an analysis that needs `stabilityPeriod / interval`
passing checks and fails after `failureThreshold` failed checks in a row.
"""

from __future__ import annotations

import math

from safeship.config.models import RolloutSpec
from safeship.config.strategies import TrafficSplitStrategy
from safeship.rollout.steps import Analysis, SetWeight, Step
from safeship.rollout.strategies.common import verify_tail


def compile_traffic_split(spec: RolloutSpec, split: TrafficSplitStrategy) -> list[Step]:
    check = Analysis(
        metrics=tuple(split.metrics) if split.metrics is not None else None,
        interval=split.interval,
        count=max(1, math.ceil(split.stability_period / split.interval)),
        failure_limit=split.failure_threshold - 1,
        inconclusive_limit=max(6, math.ceil(split.stability_period / split.interval)),
        consecutive=True,
    )
    steps: list[Step] = []
    for weight in split.stages:
        steps += [SetWeight(weight), check]
    return steps + verify_tail(spec)

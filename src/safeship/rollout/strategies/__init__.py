"""Strategies → the common step list. One module per strategy; this picks the right one.

`compile_steps` is pure and cached: the planner calls it every tick with the same spec and
the same targets, and a waves rollout over 100,000 targets should not recompile each time.
"""

from __future__ import annotations

from collections.abc import Sequence

from safeship.config.models import RolloutSpec
from safeship.core.types import Target
from safeship.rollout.steps import Step, TargetRef
from safeship.rollout.strategies import blue_green, canary, rolling, traffic_split, waves

_cache: dict[tuple[int, tuple[str, ...]], tuple[RolloutSpec, tuple[Step, ...]]] = {}
_CACHE_SIZE = 16


def compile_steps(spec: RolloutSpec, targets: Sequence[TargetRef] = ()) -> tuple[Step, ...]:
    """The steps of `spec`'s strategy; target strategies need the fleet's targets."""
    key = (id(spec), tuple(t.name for t in targets) if spec.strategy.targets_based else ())
    hit = _cache.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    steps = tuple(_compile(spec, targets))
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    _cache[key] = (spec, steps)
    return steps


def _compile(spec: RolloutSpec, targets: Sequence[TargetRef]) -> list[Step]:
    s = spec.strategy
    if s.rolling is not None:
        return rolling.compile_rolling(spec, s.rolling, targets)
    if s.waves is not None:
        return waves.compile_waves(spec, s.waves, targets)
    if s.traffic_split is not None:
        return traffic_split.compile_traffic_split(spec, s.traffic_split)
    if s.blue_green is not None:
        return blue_green.compile_blue_green(spec, s.blue_green)
    assert s.canary is not None  # StrategySpec guarantees exactly one
    return canary.compile_canary(spec, s.canary)


def initial_canary_scale(spec: RolloutSpec) -> int:
    """Canary pool size when a rollout starts (target strategies have no pool)."""
    s = spec.strategy
    if s.canary is not None:
        return s.canary.canary_replicas
    if s.traffic_split is not None:
        return s.traffic_split.canary_replicas
    return 0


def local_targets(spec: RolloutSpec) -> list[Target]:
    """The local fleet's targets as the spec describes them (for dry runs and status)."""
    names = spec.fleet.target_names(spec.service.name)
    return [Target(n, spec.fleet.labels.get(n, {})) for n in names]

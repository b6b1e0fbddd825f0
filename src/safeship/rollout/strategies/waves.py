"""waves: canary targets first (a count, a label selector or names), then waves by share of
the fleet (default 5, 25, 50, 75, 100%), with success criteria checked between waves."""

from __future__ import annotations

import math
from collections.abc import Sequence

from safeship.config.models import RolloutSpec
from safeship.config.strategies import CanaryTargets, WavesStrategy, share_of
from safeship.rollout.steps import Deploy, Pause, Step, TargetRef
from safeship.rollout.strategies.common import analysis_of, verify_tail


def compile_waves(
    spec: RolloutSpec, waves: WavesStrategy, targets: Sequence[TargetRef]
) -> list[Step]:
    canaries = choose_canaries(waves.canary, targets)
    steps: list[Step] = [_deploy(waves, canaries, "canary targets", canary=True)]
    if waves.canary_analysis is not None:
        steps.append(analysis_of(waves.canary_analysis))
    elif waves.analysis is not None:
        steps.append(analysis_of(waves.analysis))
    chosen = set(canaries)
    rest = [t.name for t in targets if t.name not in chosen]
    done = len(canaries)
    for share in waves.waves:
        upto = math.ceil(len(targets) * share / 100)
        wave = tuple(rest[: max(0, upto - done)])
        if not wave:
            continue  # this share is already covered by the canaries and earlier waves
        rest, done = rest[len(wave) :], done + len(wave)
        steps += _between(waves) + [_deploy(waves, wave, f"wave {share:g}%")]
        if waves.analysis is not None:
            steps.append(analysis_of(waves.analysis))
    return steps + verify_tail(spec)


def choose_canaries(canary: CanaryTargets, targets: Sequence[TargetRef]) -> tuple[str, ...]:
    if canary.names is not None:
        wanted = set(canary.names)
        return tuple(t.name for t in targets if t.name in wanted)
    if canary.selector is not None:
        selector = canary.selector.items()
        return tuple(t.name for t in targets if selector <= dict(t.labels).items())
    return tuple(t.name for t in targets[: canary.count or 1])


def _between(waves: WavesStrategy) -> list[Step]:
    return [Pause(waves.pause_between_waves)] if waves.pause_between_waves > 0 else []


def _deploy(
    waves: WavesStrategy, batch: tuple[str, ...], label: str, *, canary: bool = False
) -> Deploy:
    return Deploy(
        targets=batch,
        label=label,
        canary=canary,
        parallel=share_of(waves.max_unavailable, max(1, len(batch))),
        health_timeout=waves.health_timeout,
    )

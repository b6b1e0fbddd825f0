"""blueGreen: green at full size beside blue, analysed (with optional preview traffic), all
traffic switched at once, blue kept for the rollback window, then stopped (by promotion)."""

from __future__ import annotations

from safeship.config.models import RolloutSpec
from safeship.config.strategies import BlueGreenStrategy
from safeship.rollout.steps import Pause, SetCanaryScale, SetWeight, Step
from safeship.rollout.strategies.common import analysis_of, verify_tail


def compile_blue_green(spec: RolloutSpec, blue_green: BlueGreenStrategy) -> list[Step]:
    steps: list[Step] = [SetCanaryScale(spec.fleet.replicas), *verify_tail(spec)]
    if blue_green.preview_weight > 0:
        steps.append(SetWeight(blue_green.preview_weight))
    if blue_green.analysis is not None:
        steps.append(analysis_of(blue_green.analysis))
    if not blue_green.auto_promote:
        steps.append(Pause(None))
    return [*steps, SetWeight(100.0), Pause(blue_green.rollback_window)]

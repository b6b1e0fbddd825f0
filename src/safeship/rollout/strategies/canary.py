"""canary: the user's own step list (setWeight, setCanaryScale, pause, analysis, verify)."""

from __future__ import annotations

from safeship.config.models import (
    AnalysisStep,
    CanaryStrategy,
    PauseStep,
    RolloutSpec,
    SetCanaryScaleStep,
    SetWeightStep,
)
from safeship.config.strategies import Step as StepSpec
from safeship.rollout.steps import Pause, SetCanaryScale, SetWeight, Step, Verify
from safeship.rollout.strategies.common import analysis_of


def compile_canary(spec: RolloutSpec, canary: CanaryStrategy) -> list[Step]:
    del spec  # the canary's steps are already written out by the user
    return [_step(s) for s in canary.steps]


def _step(step: StepSpec) -> Step:
    if isinstance(step, SetWeightStep):
        return SetWeight(step.set_weight)
    if isinstance(step, SetCanaryScaleStep):
        return SetCanaryScale(step.set_canary_scale.replicas)
    if isinstance(step, PauseStep):
        return Pause(step.pause.duration)
    if isinstance(step, AnalysisStep):
        return analysis_of(step.analysis)
    return Verify()

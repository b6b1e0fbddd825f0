"""Pieces several strategy compilers share: analysis specs and the trailing verify step."""

from __future__ import annotations

from safeship.config.models import AnalysisStepSpec, RolloutSpec
from safeship.rollout.steps import Analysis, Step, Verify


def analysis_of(spec: AnalysisStepSpec) -> Analysis:
    return Analysis(
        metrics=tuple(spec.metrics) if spec.metrics is not None else None,
        interval=spec.interval,
        count=spec.count,
        failure_limit=spec.failure_limit,
        inconclusive_limit=spec.inconclusive_limit,
    )


def verify_tail(spec: RolloutSpec) -> list[Step]:
    """A final verify step when the spec asks for post-deploy verification."""
    return [Verify()] if spec.verify is not None else []

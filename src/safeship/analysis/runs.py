"""An analysis run: repeated measurements, judged together (Argo Rollouts' limits)."""

from __future__ import annotations

from collections.abc import Sequence

from safeship.analysis.verdict import Outcome


def assess_run(
    outcomes: Sequence[Outcome], *, count: int, failure_limit: int, inconclusive_limit: int
) -> Outcome | None:
    """The run's outcome once decided, or None to keep measuring.

    Failures beyond `failure_limit` fail the run; inconclusive measurements beyond
    `inconclusive_limit` make it inconclusive (a person decides); `count` passes pass it,
    and `count` 0 measures until a limit is crossed.
    """
    if min(count, failure_limit, inconclusive_limit) < 0:
        raise ValueError("count and limits must not be negative")
    if sum(o is Outcome.FAIL for o in outcomes) > failure_limit:
        return Outcome.FAIL
    if sum(o is Outcome.INCONCLUSIVE for o in outcomes) > inconclusive_limit:
        return Outcome.INCONCLUSIVE
    if count and sum(o is Outcome.PASS for o in outcomes) >= count:
        return Outcome.PASS
    return None

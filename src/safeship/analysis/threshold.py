"""Custom-metric judge: `failIf` / `successIf` conditions on measured values, Argo-style.

One measurement is a query result (one value per series) taken by the planner every interval;
`judge_threshold` turns it into a verdict (pure); `analysis.runs.assess_run` then judges the
list of measurement outcomes so far.
"""

from __future__ import annotations

from collections.abc import Sequence

from safeship.analysis.samples import clean
from safeship.analysis.verdict import Outcome, Verdict
from safeship.config.condition import Condition, parse_condition


def judge_threshold(
    name: str,
    values: Sequence[float],
    *,
    fail_if: str | None = None,
    success_if: str | None = None,
    min_samples: int = 1,
) -> Verdict:
    """Judge one measurement: every value must pass; any failing value fails it.

    Per value, as Argo Rollouts does: `fail_if` true -> fail; else `success_if` true -> pass;
    `success_if` false -> fail if it is the only condition, inconclusive if `fail_if` is also
    set (neither matched). NaN values are missing data; fewer than `min_samples` -> inconclusive.
    """
    if fail_if is None and success_if is None:
        raise ValueError(f"{name}: a threshold judge needs fail_if or success_if")
    # Parse before looking at data, so a typo is reported even when no data came back.
    fail = parse_condition(fail_if) if fail_if is not None else None
    success = parse_condition(success_if) if success_if is not None else None
    kept = clean(values)
    evidence = {
        "values": [float(v) for v in kept],
        "samples": int(kept.size),
        "min_samples": min_samples,
        "fail_if": fail_if,
        "success_if": success_if,
    }
    if kept.size < max(min_samples, 1):
        reason = f"{kept.size} values, need at least {max(min_samples, 1)}"
        return Verdict(Outcome.INCONCLUSIVE, name, reason, evidence)
    outcomes = [_judge_value(float(v), fail=fail, success=success) for v in kept]
    return _summarise(name, kept.tolist(), outcomes, evidence)


def _judge_value(value: float, *, fail: Condition | None, success: Condition | None) -> Outcome:
    if fail is not None and fail.holds(value):
        return Outcome.FAIL
    if success is None or success.holds(value):
        return Outcome.PASS
    return Outcome.INCONCLUSIVE if fail is not None else Outcome.FAIL


def _summarise(
    name: str, values: list[float], outcomes: list[Outcome], evidence: dict[str, object]
) -> Verdict:
    for outcome, words in ((Outcome.FAIL, "failed"), (Outcome.INCONCLUSIVE, "matched neither")):
        hits = [v for v, o in zip(values, outcomes, strict=True) if o is outcome]
        if hits:
            reason = f"{len(hits)} of {len(values)} values {words} the conditions: {hits[:5]}"
            return Verdict(outcome, name, reason, {**evidence, "offending": hits})
    return Verdict(Outcome.PASS, name, f"all {len(values)} values met the conditions", evidence)

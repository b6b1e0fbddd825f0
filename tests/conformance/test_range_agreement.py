"""Every conformance expression must give the same answer however it is evaluated.

promtool checks instant queries only. Prometheus evaluates a range query step by step with
the same semantics, and `@` pins evaluation to a time, so for each expression of the
conformance files (those without rule files) at its eval_time T:

- a range query around T must hold, at every step t, exactly the instant result at t
  (or fail where an instant evaluation fails), and
- the subquery `(expr)[1s:1s] @ T`, evaluated an hour later, must hold at T exactly the
  instant result at T.

Expressions using `start()`/`end()` are skipped (they legitimately depend on the query's
bounds), as are those whose result is a scalar, string or range vector (which a range
query or a subquery refuses).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from safeship.alerting import rule_tests
from safeship.alerting.rule_tests import ExprTest, load_file, load_store
from safeship.core.labels import Labels
from safeship.metrics.promql import Engine, Matrix, PromQLError, Vector

HERE = Path(__file__).parent
FILES = [p for p in sorted(HERE.glob("*.yml")) if not load_file(p).rule_groups]
STEP_MS = 30_000
Points = dict[Labels, float]


def _bits(value: float) -> int | str:
    """Bit-exact comparison key that treats every NaN as equal to every other NaN."""
    return "NaN" if math.isnan(value) else struct.unpack("<q", struct.pack("<d", value))[0]


def _instant(engine: Engine, expr: str, t_ms: int) -> dict[Labels, int | str] | None:
    """The instant vector at t (None when evaluation fails)."""
    try:
        value = engine.instant(expr, t_ms / 1000)
    except PromQLError:
        return None
    assert isinstance(value, Vector)
    return {labels: _bits(v) for labels, v in value.samples()}


def _at(matrix: Matrix, t_ms: int) -> dict[Labels, int | str]:
    found = {}
    for series in matrix.series:
        for ts, v in zip(series.timestamps.tolist(), series.values.tolist(), strict=True):
            if ts == t_ms:
                found[series.labels] = _bits(v)
    return found


def _cases(path: Path) -> list[tuple[rule_tests.TestGroup, ExprTest]]:
    return [(g, c) for g in load_file(path).groups for c in g.exprs]


def _agrees(engine: Engine, case: ExprTest) -> list[str]:
    expr, t = case.expr, case.eval_ms
    try:
        kind = engine.instant(expr, t / 1000)
    except PromQLError:
        kind = None
    if "start()" in expr or "end()" in expr or not isinstance(kind, Vector | None):
        return []
    steps = range(t - 2 * STEP_MS, t + 2 * STEP_MS + 1, STEP_MS)
    expected = {s: _instant(engine, expr, s) for s in steps}
    problems = []
    try:
        matrix = engine.range(expr, steps[0] / 1000, steps[-1] / 1000, STEP_MS / 1000)
    except PromQLError as exc:
        if all(v is not None for v in expected.values()):
            problems.append(f"{expr}: range query fails ({exc}) where every instant succeeds")
        return problems
    for s, want in expected.items():
        if want is None:
            problems.append(f"{expr}: range query succeeds where the instant at {s} fails")
        elif _at(matrix, s) != want:
            problems.append(f"{expr}: range step {s} != instant at {s}")
    if expected[t] is not None:
        pinned = engine.instant(f"({expr})[1s:1s] @ {t / 1000}", t / 1000 + 3600)
        assert isinstance(pinned, Matrix)
        if _at(pinned, t) != expected[t]:
            problems.append(f"{expr}: (expr)[1s:1s] @ T != instant at T")
    return problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_range_and_at_evaluation_agree_with_instant(path: Path) -> None:
    problems: list[str] = []
    engines: dict[int, Engine] = {}
    for group, case in _cases(path):
        engine = engines.setdefault(id(group), Engine(load_store(group), default_step=60.0))
        problems.extend(_agrees(engine, case))
    assert not problems, "\n".join(problems)

"""Binary operators: arithmetic, comparisons (filtering or `bool`) and set operators, with
vector matching by on / ignoring and group_left / group_right cardinality."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from safeship.core.labels import (
    NAME,
    Labels,
    drop,
    drop_name,
    drop_names,
    get,
    keep_only,
    with_label,
)
from safeship.core.labels import format_labels as fmt
from safeship.metrics.promql import go_math
from safeship.metrics.promql.errors import PromQLError
from safeship.metrics.promql.values import Floats, Vector, unique

ARITHMETIC: dict[str, Callable[[Floats, Floats], Floats]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,
    "^": np.power,
    "atan2": lambda y, x: np.asarray(
        [go_math.atan2(a, b) for a, b in zip(y.tolist(), x.tolist(), strict=True)]
    ),
}
COMPARISON: dict[str, Callable[[Floats, Floats], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}
SET_OPS = frozenset({"and", "or", "unless"})
# 2.42's shouldDropMetricName: arithmetic drops the metric name, but atan2 keeps it.
DROPS_NAME = frozenset(ARITHMETIC) - {"atan2"}


@dataclass(frozen=True)
class Matching:
    """How two vectors pair up: on/ignoring labels, and which side may have many."""

    on: bool
    labels: tuple[str, ...]
    card: str  # "one-to-one" | "many-to-one" | "one-to-many" | "many-to-many"
    include: tuple[str, ...]

    def signature(self, labels: Labels) -> Labels:
        if self.on:
            return keep_only(labels, frozenset(self.labels))
        return drop(labels, frozenset([*self.labels, NAME]))


def apply(op: str, lhs: Floats, rhs: Floats) -> Floats:
    with np.errstate(all="ignore"):
        if op in ARITHMETIC:
            if op == "^":
                return np.power(lhs.astype(np.float64), rhs.astype(np.float64))
            return ARITHMETIC[op](lhs, rhs).astype(np.float64)
        return COMPARISON[op](lhs, rhs).astype(np.float64)


def scalar_scalar(op: str, lhs: float, rhs: float) -> float:
    return float(apply(op, np.asarray([lhs]), np.asarray([rhs]))[0])


def vector_scalar(op: str, vec: Vector, scalar: float, *, swap: bool, bool_: bool) -> Vector:
    """`vec op scalar`, or `scalar op vec` when swap; comparisons keep the vector's value."""
    other = np.full(len(vec), scalar)
    lhs, rhs = (other, vec.values) if swap else (vec.values, other)
    result = apply(op, lhs, rhs)
    if op in DROPS_NAME or bool_:
        return unique(Vector(drop_names(vec.labels), result))
    if op in ARITHMETIC:
        return Vector(vec.labels, result)
    return vec.take(result == 1.0)


def vector_vector(op: str, lhs: Vector, rhs: Vector, m: Matching, *, bool_: bool) -> Vector:
    if op in SET_OPS:
        return _set_op(op, lhs, rhs, m)
    if m.card == "one-to-many":
        return _matched(op, rhs, lhs, m, bool_=bool_, swapped=True)
    return _matched(op, lhs, rhs, m, bool_=bool_, swapped=False)


def _set_op(op: str, lhs: Vector, rhs: Vector, m: Matching) -> Vector:
    right = {m.signature(x) for x in rhs.labels}
    if op == "and":
        return lhs.take(np.asarray([m.signature(x) in right for x in lhs.labels], dtype=bool))
    if op == "unless":
        return lhs.take(np.asarray([m.signature(x) not in right for x in lhs.labels], dtype=bool))
    left = {m.signature(x) for x in lhs.labels}
    extra = rhs.take(np.asarray([m.signature(x) not in left for x in rhs.labels], dtype=bool))
    return Vector(lhs.labels + extra.labels, np.concatenate([lhs.values, extra.values]))


def _one_side(one: Vector, m: Matching) -> dict[Labels, int]:
    """Signature -> position on the "one" side; duplicates there are an error."""
    found: dict[Labels, int] = {}
    for i, labels in enumerate(one.labels):
        sig = m.signature(labels)
        if sig in found:
            raise PromQLError(
                f"found duplicate series for the match group {fmt(sig)} on the "
                f"{'left' if m.card == 'one-to-many' else 'right'} hand-side of the operation: "
                f"[{fmt(labels)}, {fmt(one.labels[found[sig]])}];many-to-many matching not "
                "allowed: matching labels must be unique on one side"
            )
        found[sig] = i
    return found


def _matched(
    op: str, many: Vector, one: Vector, m: Matching, *, bool_: bool, swapped: bool
) -> Vector:
    index = _one_side(one, m)
    pairs = [(i, index.get(m.signature(x))) for i, x in enumerate(many.labels)]
    pairs_ok = [(i, j) for i, j in pairs if j is not None]
    if not pairs_ok:
        return Vector.empty()
    left_i = np.asarray([p[0] for p in pairs_ok], dtype=np.int64)
    right_i = np.asarray([p[1] for p in pairs_ok], dtype=np.int64)
    a, b = many.values[left_i], one.values[right_i]
    lv, rv = (b, a) if swapped else (a, b)
    result = apply(op, lv, rv)
    keep = np.ones(result.size, dtype=bool)
    if op in COMPARISON and not bool_:
        keep, result = result == 1.0, lv
    return _assemble(op, many, one, m, left_i, right_i, result, keep, bool_=bool_)


def _assemble(
    op: str,
    many: Vector,
    one: Vector,
    m: Matching,
    left_i: np.ndarray,
    right_i: np.ndarray,
    result: Floats,
    keep: np.ndarray,
    *,
    bool_: bool,
) -> Vector:
    labels: list[Labels] = []
    matched: set[Labels] = set()
    inserted: set[tuple[Labels, Labels]] = set()
    for n, (i, j) in enumerate(zip(left_i.tolist(), right_i.tolist(), strict=True)):
        out = _result_labels(op, many.labels[i], one.labels[j], m, bool_=bool_)
        labels.append(out)
        if not keep[n]:
            continue
        sig = m.signature(many.labels[i])
        if m.card == "one-to-one" and sig in matched:
            raise PromQLError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)"
            )
        if m.card != "one-to-one" and (sig, out) in inserted:
            raise PromQLError(
                "multiple matches for labels: grouping labels must ensure unique matches"
            )
        matched.add(sig)
        inserted.add((sig, out))
    idx = np.flatnonzero(keep)
    return unique(Vector([labels[i] for i in idx.tolist()], result[idx].astype(np.float64)))


def _result_labels(op: str, many: Labels, one: Labels, m: Matching, *, bool_: bool) -> Labels:
    out = many
    if op in DROPS_NAME or bool_:
        out = drop_name(out)
    if m.card == "one-to-one":
        out = keep_only(out, frozenset(m.labels)) if m.on else drop(out, frozenset(m.labels))
    for name in m.include:
        out = with_label(out, name, get(one, name))
    return out

"""The PromQL engine: parse with promql-parser, evaluate the AST against a SeriesStore.

Instant queries evaluate the tree once at time t; range queries evaluate it at every step
and stitch the steps into series, which is what Prometheus's range evaluation amounts to.
Selector results are cached per store snapshot, so a round of alert expressions that
share selectors reads each one once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import numpy as np

from safeship.core.labels import Labels, drop_name
from safeship.metrics.index import Matcher
from safeship.metrics.promql import aggregations, binary, selectors
from safeship.metrics.promql.calls import ENGINE_CALLS, KNOWN, call
from safeship.metrics.promql.errors import LocatedError, PromQLError
from safeship.metrics.promql.parsing import (
    absent_labels,
    located,
    parse,
    selector_matchers,
    unparen,
)
from safeship.metrics.promql.values import (
    Matrix,
    MatrixSeries,
    Scalar,
    String,
    Value,
    Vector,
    Windows,
    unique,
)
from safeship.metrics.store import SeriesStore, StoreView

_CARD = {
    "OneToOne": "one-to-one",
    "ManyToOne": "many-to-one",
    "OneToMany": "one-to-many",
    "ManyToMany": "many-to-many",
}


@dataclass(frozen=True)
class _Ctx:
    t: int  # evaluation time, ms
    start: int  # query start, for @ start()
    end: int  # query end, for @ end()


def _ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return delta // timedelta(milliseconds=1)


class Engine:
    """Evaluates PromQL over `store` with Prometheus's lookback and staleness rules."""

    def __init__(
        self, store: SeriesStore, *, lookback_delta: float = 300.0, default_step: float = 60.0
    ) -> None:
        self._store = store
        self._lookback_ms = int(lookback_delta * 1000)
        self._default_step_ms = int(default_step * 1000)
        self._view: StoreView | None = None
        self._selections: dict[tuple[Matcher, ...], selectors.Selection] = {}
        self._windows: dict[tuple[tuple[Matcher, ...], int, int], Windows] = {}

    # -- public ----------------------------------------------------------------------------
    def instant(self, expr: str, t: float) -> Value:
        """The value of `expr` at time t (seconds since the epoch)."""
        node = parse(expr)
        t_ms = round(t * 1000)
        try:
            result = self._eval(node, _Ctx(t_ms, t_ms, t_ms))
        except LocatedError as exc:
            raise located(exc, expr) from None
        if isinstance(result, Windows):
            return _to_matrix(result)
        return result

    def range(self, expr: str, start: float, end: float, step: float) -> Matrix:
        """`expr` evaluated at start, start+step, ... end, as series of points."""
        node = parse(expr)
        if step <= 0:
            raise PromQLError("zero or negative query resolution step widths are not accepted")
        start_ms, end_ms, step_ms = round(start * 1000), round(end * 1000), round(step * 1000)
        points: dict[Labels, list[tuple[int, float]]] = {}
        try:
            for t in range(start_ms, end_ms + 1, step_ms):
                value = self._eval(node, _Ctx(t, start_ms, end_ms))
                for labels, v in _samples(value, expr):
                    points.setdefault(labels, []).append((t, v))
        except LocatedError as exc:
            raise located(exc, expr) from None
        return Matrix([_series(k, pts) for k, pts in sorted(points.items())])

    # -- evaluation ------------------------------------------------------------------------
    def _eval(self, node: Any, ctx: _Ctx) -> Value | Windows:
        handler = _HANDLERS.get(type(node).__name__)
        if handler is None:
            raise PromQLError(f"unsupported expression {node}")
        return handler(self, node, ctx)

    def _number(self, node: Any, ctx: _Ctx) -> Value:
        return Scalar(float(node.val))

    def _string(self, node: Any, ctx: _Ctx) -> Value:
        return String(str(node.val))

    def _paren(self, node: Any, ctx: _Ctx) -> Value | Windows:
        return self._eval(node.expr, ctx)

    def _unary(self, node: Any, ctx: _Ctx) -> Value:
        value = self._eval(node.expr, ctx)
        if isinstance(value, Scalar):
            return Scalar(-value.value)
        if isinstance(value, Vector):
            return unique(Vector([drop_name(x) for x in value.labels], -value.values))
        raise PromQLError("unary minus is only allowed on scalars and instant vectors")

    def _vector_selector(self, node: Any, ctx: _Ctx) -> Value:
        return self._select_instant(node, ctx)[0]

    def _select_instant(self, node: Any, ctx: _Ctx) -> tuple[Vector, np.ndarray]:
        t = self._at(node, ctx) - _ms(node.offset)
        sel = self._selection(selector_matchers(node))
        return selectors.instant(self._snapshot(), sel, t_ms=t, lookback_ms=self._lookback_ms)

    def _matrix_selector(self, node: Any, ctx: _Ctx) -> Windows:
        vs = node.vector_selector
        end = self._at(vs, ctx) - _ms(vs.offset)
        rng = _ms(node.range)
        key = (selector_matchers(vs), end, rng)
        found = self._windows.get(key)
        if found is None:
            sel = self._selection(key[0])
            found = selectors.windows(self._snapshot(), sel, end_ms=end, range_ms=rng)
            self._windows[key] = found
        return found

    def _subquery(self, node: Any, ctx: _Ctx) -> Windows:
        step = _ms(node.step) or self._default_step_ms
        rng = _ms(node.range)
        end = self._at(node, ctx) - _ms(node.offset)
        start = _go_div(end - rng, step) * step
        if start < end - rng:
            start += step
        points: dict[Labels, list[tuple[int, float]]] = {}
        for t in range(start, end + 1, step):
            value = self._eval(node.expr, replace(ctx, t=t))
            for labels, v in _samples(value, "subquery"):
                points.setdefault(labels, []).append((t, v))
        return selectors.windows_from_points(points, end_ms=end, range_ms=rng)

    def _call(self, node: Any, ctx: _Ctx) -> Value:
        name = node.func.name
        if name not in KNOWN:
            raise LocatedError(f'unknown function with name "{name}"', token=name)
        if name in ENGINE_CALLS:
            return self._syntactic_call(name, node, ctx)
        args = [self._eval(a, ctx) for a in node.args]
        return call(name, args, ctx.t)

    def _syntactic_call(self, name: str, node: Any, ctx: _Ctx) -> Value:
        """absent, absent_over_time and timestamp look at their argument's syntax, through
        parentheses as Prometheus does (it unwraps them before evaluating)."""
        if name != "timestamp":
            return self._absent(node, ctx)
        arg = unparen(node.args[0])
        if type(arg).__name__ == "VectorSelector":
            vec, times = self._select_instant(arg, ctx)
            values = times.astype(np.float64) / 1000
        else:
            vec = _instant_vector(self._eval(arg, ctx), "timestamp")
            values = np.full(len(vec), ctx.t / 1000)  # a computed sample is stamped "now"
        return unique(Vector([drop_name(x) for x in vec.labels], values))

    def _absent(self, node: Any, ctx: _Ctx) -> Value:
        arg = unparen(node.args[0])
        found = self._eval(arg, ctx)
        if len(found) > 0:  # type: ignore[arg-type]
            return Vector.empty()
        selector = arg.vector_selector if type(arg).__name__ == "MatrixSelector" else arg
        labels: Labels = ()
        if type(selector).__name__ == "VectorSelector":
            labels = absent_labels(selector_matchers(selector))
        return Vector([labels], np.ones(1))

    def _aggregate(self, node: Any, ctx: _Ctx) -> Value:
        vec = self._eval(node.expr, ctx)
        if not isinstance(vec, Vector):
            raise PromQLError("aggregations expect an instant vector")
        param = None
        if node.param is not None:
            pv = self._eval(node.param, ctx)
            param = pv.value if isinstance(pv, Scalar | String) else None
        modifier = node.modifier
        without = modifier is not None and str(modifier.type).endswith("Without")
        names = list(modifier.labels) if modifier is not None else []
        op = str(node.op)
        return aggregations.aggregate(op, vec, names=names, without=without, param=param)

    def _binary(self, node: Any, ctx: _Ctx) -> Value:
        op = str(node.op)
        lhs, rhs = self._eval(node.lhs, ctx), self._eval(node.rhs, ctx)
        bool_ = bool(node.modifier is not None and node.modifier.return_bool)
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return Scalar(binary.scalar_scalar(op, lhs.value, rhs.value))
        if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
            return binary.vector_scalar(op, lhs, rhs.value, swap=False, bool_=bool_)
        if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
            return binary.vector_scalar(op, rhs, lhs.value, swap=True, bool_=bool_)
        if isinstance(lhs, Vector) and isinstance(rhs, Vector):
            return binary.vector_vector(op, lhs, rhs, _matching(node, op), bool_=bool_)
        raise PromQLError(f"binary operator {op} needs scalars or instant vectors")

    # -- helpers ---------------------------------------------------------------------------
    def _at(self, node: Any, ctx: _Ctx) -> int:
        at = getattr(node, "at", None)
        if at is None:
            return ctx.t
        kind = str(at.type)
        if kind.endswith("Start"):
            return ctx.start
        if kind.endswith("End"):
            return ctx.end
        return round(float(at.at.timestamp()) * 1000)

    def _snapshot(self) -> StoreView:
        view = self._store.view()
        if view is not self._view:
            self._view = view
            self._selections.clear()
            self._windows.clear()
        return view

    def _selection(self, matchers: tuple[Matcher, ...]) -> selectors.Selection:
        self._snapshot()
        found = self._selections.get(matchers)
        if found is None:
            found = selectors.select_ids(self._store, matchers)
            self._selections[matchers] = found
        return found


_HANDLERS = {
    "NumberLiteral": Engine._number,
    "StringLiteral": Engine._string,
    "ParenExpr": Engine._paren,
    "UnaryExpr": Engine._unary,
    "VectorSelector": Engine._vector_selector,
    "MatrixSelector": Engine._matrix_selector,
    "SubqueryExpr": Engine._subquery,
    "Call": Engine._call,
    "AggregateExpr": Engine._aggregate,
    "BinaryExpr": Engine._binary,
}


def _instant_vector(value: Value | Windows, function: str) -> Vector:
    if not isinstance(value, Vector):
        raise PromQLError(f"{function}() expects an instant vector")
    return value


def _matching(node: Any, op: str) -> binary.Matching:
    mod = node.modifier
    card = "many-to-many" if op in binary.SET_OPS else "one-to-one"
    on, labels, include = False, (), ()
    if mod is not None:
        card = _CARD.get(str(mod.card).split(".")[-1], card)
        if mod.matching is not None:
            on = str(mod.matching.type).endswith("Include")
            labels = tuple(mod.matching.labels)
        include = tuple(mod.group_labels or ())
    return binary.Matching(on=on, labels=labels, card=card, include=include)


def _go_div(a: int, b: int) -> int:
    """Go's integer division truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _samples(value: Value | Windows, expr: str) -> list[tuple[Labels, float]]:
    if isinstance(value, Scalar):
        return [((), value.value)]
    if isinstance(value, Vector):
        return value.samples()
    raise PromQLError(f"expression {expr!r} must return a scalar or an instant vector")


def _series(labels: Labels, points: list[tuple[int, float]]) -> MatrixSeries:
    ts = np.asarray([p[0] for p in points], dtype=np.int64)
    return MatrixSeries(labels, ts, np.asarray([p[1] for p in points], dtype=np.float64))


def _to_matrix(w: Windows) -> Matrix:
    rows = []
    for i, labels in enumerate(w.labels):
        n = int(w.counts[i])
        rows.append(MatrixSeries(labels, w.times[i, :n].copy(), w.values[i, :n].copy()))
    return Matrix(rows)

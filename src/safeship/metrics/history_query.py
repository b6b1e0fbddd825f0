"""History-aware PromQL queries: fall back to SQL rollups when the hot store is too young.

Where it sits: between the Prometheus-compatible API and the engine. A query whose needed
data (its start minus the expression's largest range + offset + lookback) begins before
the oldest sample of the in-memory store is evaluated over a scratch store holding the
rollup history of the expression's selectors (`HistoryReader.to_store`: each bucket's
`last` value stamped at the bucket's end), followed by the hot samples; any other query
goes to the hot engine unchanged.

Exact vs approximate: gauges read history as the last value of each bucket at its end
(exact at bucket ends; every bucket is loaded, not one per step). Counters' rate()/increase()
over those points see resets between bucket ends as drops, as Prometheus does; a reset
followed by growth past the previous value inside one bucket is missed, and windows
hold fewer, coarser points than raw data, so extrapolation makes them approximate
(within a few % for a steady rate). *_over_time sums/counts see bucket ends, not raw
samples. 1h buckets (older than the 1m tier) are sparser than the 5m lookback, so
instant selectors there return nothing between points.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Protocol

import numpy as np

from safeship.metrics.index import Matcher
from safeship.metrics.promql import Engine, Matrix, Value
from safeship.metrics.promql.parsing import matchers_of, parse
from safeship.metrics.retention import HistoryReader
from safeship.metrics.store import MAX_T, MIN_T, SeriesStore

_FOREVER_MS = 2**62  # an @ modifier pins data anywhere in time: always consult history


class Querier(Protocol):
    """What the API evaluates with: the engine itself or a HistoryQuery."""

    def instant(self, expr: str, t: float) -> Value: ...

    def range(self, expr: str, start: float, end: float, step: float) -> Matrix: ...


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else delta // timedelta(milliseconds=1)


def reach_ms(node: Any, *, lookback_ms: int) -> int:
    """How far before its evaluation time the expression `node` reads data."""
    kind = type(node).__name__
    if getattr(node, "at", None) is not None:
        return _FOREVER_MS
    if kind == "VectorSelector":
        return _ms(node.offset) + lookback_ms
    if kind == "MatrixSelector":
        vs = node.vector_selector
        return _FOREVER_MS if vs.at is not None else _ms(vs.offset) + _ms(node.range)
    inner = max((reach_ms(c, lookback_ms=lookback_ms) for c in _children(node)), default=0)
    if kind == "SubqueryExpr":
        return _ms(node.offset) + _ms(node.range) + inner
    return inner


def selector_matchers(node: Any) -> list[tuple[Matcher, ...]]:
    """The matchers of every vector selector in the expression, each set once."""
    if type(node).__name__ == "VectorSelector":
        return [matchers_of(str(node))]
    if type(node).__name__ == "MatrixSelector":
        return selector_matchers(node.vector_selector)
    found = [m for c in _children(node) for m in selector_matchers(c)]
    return list(dict.fromkeys(found))


def _children(node: Any) -> Iterator[Any]:
    for name in ("expr", "lhs", "rhs", "param"):
        child = getattr(node, name, None)
        if child is not None and not isinstance(child, str | float | int):
            yield child
    yield from getattr(node, "args", None) or ()


def needs_history(*, first_ms: int, hot_begins_ms: int | None) -> bool:
    """Whether data needed from `first_ms` on predates what the hot store holds."""
    return hot_begins_ms is None or first_ms < hot_begins_ms


def oldest_ms(store: SeriesStore) -> int | None:
    """The time of the oldest sample in `store`, None when it is empty (cached per snapshot)."""
    return store.view().oldest_ms


class HistoryQuery:
    """Answers like Engine, consulting `reader` for data older than the hot store."""

    def __init__(
        self,
        engine: Engine,
        store: SeriesStore,
        reader: HistoryReader,
        *,
        lookback_delta: float = 300.0,
    ) -> None:
        self._engine, self._store, self._reader = engine, store, reader
        self._lookback_delta = lookback_delta

    def instant(self, expr: str, t: float) -> Value:
        t_ms = round(t * 1000)
        merged = self._merged(expr, start_ms=t_ms, end_ms=t_ms)
        target = self._engine if merged is None else self._fresh(merged)
        return target.instant(expr, t)

    def range(self, expr: str, start: float, end: float, step: float) -> Matrix:
        merged = self._merged(expr, start_ms=round(start * 1000), end_ms=round(end * 1000))
        target = self._engine if merged is None else self._fresh(merged)
        return target.range(expr, start, end, step)

    def _fresh(self, store: SeriesStore) -> Engine:
        return Engine(store, lookback_delta=self._lookback_delta)

    def _merged(self, expr: str, *, start_ms: int, end_ms: int) -> SeriesStore | None:
        """History then hot samples of the expression's selectors, or None if the hot
        store alone has all the data needed."""
        node = parse(expr)
        first = start_ms - reach_ms(node, lookback_ms=round(self._lookback_delta * 1000))
        hot_begins = oldest_ms(self._store)
        if not needs_history(first_ms=first, hot_begins_ms=hot_begins):
            return None
        # History stops where the hot store begins, so no time is counted twice.
        cut = end_ms if hot_begins is None else min(end_ms, hot_begins - 1)
        merged = SeriesStore()
        for matchers in selector_matchers(node):
            # Every bucket, not one per query step: a rate() over a range shorter than the
            # step still needs the points inside that range.
            _copy(self._reader.to_store(matchers, first, cut, 1), matchers, merged)
            if hot_begins is not None:
                _copy(self._store, matchers, merged, start_ms=hot_begins, end_ms=end_ms)
        return merged


def _copy(
    source: SeriesStore,
    matchers: tuple[Matcher, ...],
    into: SeriesStore,
    *,
    start_ms: int = MIN_T,
    end_ms: int = MAX_T,
) -> None:
    for series in source.select(matchers, start_ms, end_ms):
        refs = np.full(series.values.size, into.ref(series.labels))
        into.append_refs(refs, series.timestamps, series.values)

"""Evaluate one rule group at one instant over the PromQL engine.

Rules run in file order: a recording rule's output is written to the store at `now` so
later rules (and later groups) see it; an alerting rule's result goes through the pure
evaluator. ALERTS / ALERTS_FOR_STATE are written back like Prometheus does, and series a
rule produced last time but not now get a staleness marker so they vanish at once.

Writes wait until a later rule reads a metric they hold, or until the group ends (or, when
the caller passes its own `PendingWrites`, until the caller flushes: the rule manager does
after all the groups due at one instant). The embedded store merges every write into its
sorted arrays before the next read, so writing after each rule would cost a whole-store
merge per rule (bench/alerting.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from safeship.alerting.evaluator import AlertEvalError, RuleState, Sample, Transition, evaluate
from safeship.alerting.rules import Rule, RuleGroup
from safeship.alerting.templates import Env
from safeship.core.labels import NAME, Labels, make_labels
from safeship.metrics.promql import Engine, PromQLError, Scalar, Vector
from safeship.metrics.promql.parsing import parse
from safeship.metrics.store import SeriesStore


@dataclass(frozen=True)
class GroupState:
    """What must survive between evaluations: alert states and last written series."""

    alerts: Mapping[int, RuleState] = field(default_factory=dict)
    written: Mapping[int, frozenset[Labels]] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupResult:
    state: GroupState
    transitions: tuple[Transition, ...]
    errors: tuple[str, ...]  # one line per rule that failed; its previous state is kept


def evaluate_group(
    group: RuleGroup,
    *,
    engine: Engine,
    store: SeriesStore,
    state: GroupState,
    now_ms: int,
    pending: PendingWrites | None = None,
    env: Env | None = None,
) -> GroupResult:
    """Every rule of `group` at `now_ms`, in order, writing outputs to `store` (through
    `pending` when given: then the caller flushes it). Templates see `env` (external URL and
    labels) and run `query` on `engine` at `now_ms`, after any write they could read."""
    alerts, written = dict(state.alerts), dict(state.written)
    transitions: list[Transition] = []
    errors: list[str] = []
    unwritten = pending if pending is not None else PendingWrites(store, now_ms)

    def template_query(expr: str) -> list[Sample]:
        if unwritten.read_by(expr):
            unwritten.flush()
        return query(engine, expr, now_ms)

    env = replace(env or Env(), query=template_query)
    for index, rule in enumerate(group.rules):
        if unwritten.read_by(rule.expr):
            unwritten.flush()
        try:
            samples = query(engine, rule.expr, now_ms)
            out = _run(
                rule, samples, alerts, index=index, now_ms=now_ms, moves=transitions, env=env
            )
        except (PromQLError, AlertEvalError) as exc:
            errors.append(f"{group.name}/{rule.name}: {exc}")
            continue
        previous = written.get(index, frozenset())
        unwritten.add(out, stale=previous - {labels for labels, _ in out})
        written[index] = frozenset(labels for labels, _ in out)
    if pending is None:
        unwritten.flush()
    return GroupResult(GroupState(alerts, written), tuple(transitions), tuple(errors))


class PendingWrites:
    """Rule outputs of one instant not yet in the store, and the metric names they hold."""

    def __init__(self, store: SeriesStore, now_ms: int) -> None:
        self._store, self._now_ms = store, now_ms
        self._batches: list[tuple[list[Sample], frozenset[Labels]]] = []
        self._names: set[str] = set()

    def add(self, out: list[Sample], *, stale: frozenset[Labels]) -> None:
        self._batches.append((out, stale))
        self._names.update(dict(labels).get(NAME, "") for labels, _ in out)
        self._names.update(dict(labels).get(NAME, "") for labels in stale)

    def read_by(self, expr: str) -> bool:
        """Could `expr` see any of these writes? Unnamed selectors might: then yes."""
        if not self._batches:
            return False
        names = metric_names(expr)
        return names is None or not names.isdisjoint(self._names)

    def flush(self) -> None:
        for out, stale in self._batches:
            _write(self._store, out, stale=stale, now_ms=self._now_ms)
        self._batches.clear()
        self._names.clear()


@lru_cache(maxsize=4096)
def metric_names(expr: str) -> frozenset[str] | None:
    """The metric names `expr` selects, or None when a selector names none (`{job="x"}`)."""
    found: set[str] = set()
    nodes: list[Any] = [parse(expr)]
    while nodes:
        node = nodes.pop()
        if type(node).__name__ == "VectorSelector":
            if not node.name:
                return None
            found.add(node.name)
            continue
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, str | int | float):
                nodes.append(child)
        nodes.extend(getattr(node, "args", None) or [])
    return frozenset(found)


def _run(
    rule: Rule,
    samples: list[Sample],
    alerts: dict[int, RuleState],
    *,
    index: int,
    now_ms: int,
    moves: list[Transition],
    env: Env,
) -> list[Sample]:
    if rule.record is not None:
        return record(rule, samples)
    result = evaluate(rule, samples, alerts.get(index, RuleState()), now_ms, env=env)
    alerts[index] = result.state
    moves.extend(result.transitions)
    return list(result.series)


def record(rule: Rule, samples: list[Sample]) -> list[Sample]:
    """A recording rule's output: samples renamed to `record`, rule labels applied."""
    out: dict[Labels, float] = {}
    for labels, value in samples:
        named = make_labels({**dict(labels), **rule.labels, "__name__": rule.name})
        if named in out:
            raise AlertEvalError(
                "vector contains metrics with the same labelset after applying rule labels"
            )
        out[named] = value
    return list(out.items())


def query(engine: Engine, expr: str, now_ms: int) -> list[Sample]:
    """The expression's instant result as samples; a scalar becomes one label-less sample."""
    value = engine.instant(expr, now_ms / 1000)
    if isinstance(value, Scalar):
        return [((), value.value)]
    if isinstance(value, Vector):
        return value.samples()
    raise PromQLError("rule result is not a vector or scalar")


def _write(store: SeriesStore, out: list[Sample], *, stale: frozenset[Labels], now_ms: int) -> None:
    for labels, value in out:
        store.append(labels, now_ms, value)
    for labels in sorted(stale):
        store.mark_stale(labels, now_ms)

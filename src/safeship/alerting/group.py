"""Evaluate one rule group at one instant over the PromQL engine.

Rules run in file order: a recording rule's output is written to the store at `now` so
later rules (and later groups) see it; an alerting rule's result goes through the pure
evaluator. ALERTS / ALERTS_FOR_STATE are written back like Prometheus does, and series a
rule produced last time but not now get a staleness marker so they vanish at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from safeship.alerting.evaluator import AlertEvalError, RuleState, Sample, Transition, evaluate
from safeship.alerting.rules import Rule, RuleGroup
from safeship.alerting.templates import Env
from safeship.core.labels import Labels, make_labels
from safeship.metrics.promql import Engine, PromQLError, Scalar, Vector
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
    env: Env | None = None,
) -> GroupResult:
    """Every rule of `group` at `now_ms`, in order, writing outputs to `store`; templates
    see `env` (external URL and labels) and run `query` on `engine` at `now_ms`."""
    env = replace(env or Env(), query=lambda expr: query(engine, expr, now_ms))
    alerts, written = dict(state.alerts), dict(state.written)
    transitions: list[Transition] = []
    errors: list[str] = []
    for index, rule in enumerate(group.rules):
        try:
            samples = query(engine, rule.expr, now_ms)
            out = _run(
                rule, samples, alerts, index=index, now_ms=now_ms, moves=transitions, env=env
            )
        except (PromQLError, AlertEvalError) as exc:
            errors.append(f"{group.name}/{rule.name}: {exc}")
            continue
        previous = written.get(index, frozenset())
        _write(store, out, stale=previous - {labels for labels, _ in out}, now_ms=now_ms)
        written[index] = frozenset(labels for labels, _ in out)
    return GroupResult(GroupState(alerts, written), tuple(transitions), tuple(errors))


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

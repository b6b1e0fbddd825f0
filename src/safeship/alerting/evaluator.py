"""The pure alert state machine: (rule, samples, previous state, now) -> (new state, transitions).

The group evaluator queries the engine and hands the result vector here; the returned
state is what gets persisted, so `for` and `keep_firing_for` survive restarts. Semantics
are Prometheus 2.42's AlertingRule.Eval: an alert is pending from its first sample, fires
once it has been active for `for`, stays firing `keep_firing_for` after its samples vanish,
and is kept 15 minutes as resolved (for notifiers) before it is forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from safeship.alerting.rules import Rule
from safeship.alerting.templates import Env, expand
from safeship.core.errors import QueryError, TemplateError
from safeship.core.labels import Labels, make_labels

Sample = tuple[Labels, float]
RESOLVED_RETENTION_MS = 15 * 60 * 1000


class State(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    INACTIVE = "inactive"


class AlertEvalError(QueryError):
    """The result cannot become alerts (e.g. two samples with the same alert labels)."""


@dataclass(frozen=True)
class Alert:
    labels: Labels  # the alert's identity: sample labels + rule labels + alertname
    annotations: Labels
    state: State
    value: float
    active_at_ms: int
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None
    keep_firing_since_ms: int | None = None


@dataclass(frozen=True)
class RuleState:
    alerts: Mapping[Labels, Alert] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    labels: Labels
    before: State
    after: State
    at_ms: int


@dataclass(frozen=True)
class Evaluation:
    state: RuleState
    transitions: tuple[Transition, ...]
    series: tuple[Sample, ...]  # ALERTS and ALERTS_FOR_STATE samples at `now`


def evaluate(
    rule: Rule,
    samples: Sequence[Sample],
    previous: RuleState,
    now_ms: int,
    *,
    env: Env | None = None,
) -> Evaluation:
    """One evaluation of an alerting rule at `now_ms` over the expression's result; `env`
    gives templates their query function, external URL and labels."""
    current = _current(rule, samples, env or Env())
    alerts: dict[Labels, Alert] = {}
    transitions: list[Transition] = []
    for key, (value, notes) in current.items():
        old = previous.alerts.get(key)
        if old is not None and old.state is not State.INACTIVE:
            alerts[key] = replace(old, value=value, annotations=notes)
            alerts[key] = replace(alerts[key], keep_firing_since_ms=None)
        else:
            alerts[key] = Alert(key, notes, State.PENDING, value, active_at_ms=now_ms)
            transitions.append(Transition(key, State.INACTIVE, State.PENDING, now_ms))
    for key, old in previous.alerts.items():
        if key not in current:
            gone = _vanished(rule, old, now_ms)
            if gone is not None:
                alerts[key] = gone
                _note(transitions, old, gone, now_ms)
    for key, alert in alerts.items():
        fired = _maybe_fire(rule, alert, now_ms)
        _note(transitions, alert, fired, now_ms)
        alerts[key] = fired
    return Evaluation(RuleState(alerts), tuple(transitions), tuple(_series(rule, alerts)))


def _current(rule: Rule, samples: Sequence[Sample], env: Env) -> dict[Labels, tuple[float, Labels]]:
    """Alert labels -> (value, annotations) for every sample of this evaluation."""
    found: dict[Labels, tuple[float, Labels]] = {}
    for labels, value in samples:
        context = dict(labels)
        extra = {k: _expand(rule, v, context, value, env) for k, v in rule.labels.items()}
        plain = {k: v for k, v in labels if k != "__name__"}
        key = make_labels({**plain, **extra, "alertname": rule.name})
        if key in found:
            raise AlertEvalError(
                "vector contains metrics with the same labelset after applying alert labels"
            )
        texts = {k: _expand(rule, v, context, value, env) for k, v in rule.annotations.items()}
        notes: Labels = tuple(sorted(texts.items()))  # empty annotations stay, as in Prometheus
        found[key] = (value, notes)
    return found


def _expand(rule: Rule, text: str, labels: dict[str, str], value: float, env: Env) -> str:
    try:
        return expand(text, labels=labels, value=value, alert=rule.name, env=env)
    except TemplateError as exc:  # Prometheus puts the error in the text; so do we
        return f"<error expanding template: {exc}>"


def _vanished(rule: Rule, alert: Alert, now_ms: int) -> Alert | None:
    """The alert after its samples disappeared, or None once it is forgotten."""
    if alert.state is State.FIRING and rule.keep_firing_for > 0:
        since = alert.keep_firing_since_ms if alert.keep_firing_since_ms is not None else now_ms
        if now_ms - since < round(rule.keep_firing_for * 1000):
            return replace(alert, keep_firing_since_ms=since)
    if alert.state is State.PENDING:
        return None
    if alert.resolved_at_ms is not None and now_ms - alert.resolved_at_ms > RESOLVED_RETENTION_MS:
        return None
    if alert.state is State.INACTIVE:
        return alert
    return replace(alert, state=State.INACTIVE, resolved_at_ms=now_ms)


def _maybe_fire(rule: Rule, alert: Alert, now_ms: int) -> Alert:
    held = now_ms - alert.active_at_ms >= round(rule.for_ * 1000)
    if alert.state is State.PENDING and held:
        return replace(alert, state=State.FIRING, fired_at_ms=now_ms)
    return alert


def _note(transitions: list[Transition], before: Alert, after: Alert, now_ms: int) -> None:
    if before.state is not after.state:
        transitions.append(Transition(after.labels, before.state, after.state, now_ms))


def _series(rule: Rule, alerts: Mapping[Labels, Alert]) -> list[Sample]:
    """Prometheus's ALERTS{alertstate} = 1 and ALERTS_FOR_STATE = active-since seconds."""
    out: list[Sample] = []
    for alert in alerts.values():
        if alert.state is State.INACTIVE:
            continue
        base = dict(alert.labels)
        alerts_labels = {**base, "__name__": "ALERTS", "alertstate": alert.state.value}
        out.append((make_labels(alerts_labels), 1.0))
        state = make_labels({**base, "__name__": "ALERTS_FOR_STATE"})
        out.append((state, float(alert.active_at_ms // 1000)))
    return out


def firing(state: RuleState) -> list[Alert]:
    """The alerts a notifier (or promtool's alert_rule_test) sees: firing ones only."""
    return [a for a in state.alerts.values() if a.state is State.FIRING]

"""The pure alert state machine, one evaluation at a time, as Prometheus 2.42 behaves."""

from __future__ import annotations

import pytest

from safeship.alerting.evaluator import (
    AlertEvalError,
    RuleState,
    State,
    evaluate,
    firing,
)
from safeship.alerting.rules import Rule
from safeship.core.labels import make_labels

MIN = 60_000
UP = make_labels({"__name__": "up", "job": "api"})
KEY = make_labels({"alertname": "Down", "job": "api", "severity": "page"})


def rule(**extra: object) -> Rule:
    return Rule.model_validate(
        {"alert": "Down", "expr": "up == 0", "labels": {"severity": "page"}, **extra}
    )


def run(r: Rule, present: list[bool]) -> list[State | None]:
    """The alert's state after each one-minute tick; None once it is forgotten."""
    state, seen = RuleState(), []
    for minute, here in enumerate(present):
        state = evaluate(r, [(UP, 0.0)] if here else [], state, minute * MIN).state
        alert = state.alerts.get(KEY)
        seen.append(alert.state if alert else None)
    return seen


# pending, firing, resolved (inactive but remembered)
P, F, R = State.PENDING, State.FIRING, State.INACTIVE


@pytest.mark.parametrize(
    ("extra", "present", "expected"),
    [
        ({}, [True, True, False], [F, F, R]),
        ({"for": "2m"}, [True, True, True, True], [P, P, F, F]),
        ({"for": "2m"}, [True, True, False, True, True, True], [P, P, None, P, P, F]),
        (
            {"for": "1m", "keep_firing_for": "2m"},
            [True, True, False, False, False],
            [P, F, F, F, R],
        ),
        (
            {"for": "1m", "keep_firing_for": "2m"},
            [True, True, False, True, False, False],
            [P, F, F, F, F, F],
        ),
        ({"keep_firing_for": "1m"}, [True, False, True], [F, F, F]),
        ({}, [False, False], [None, None]),
    ],
)
def test_states_follow_for_and_keep_firing_for(
    extra: dict[str, str], present: list[bool], expected: list[State | None]
) -> None:
    assert run(rule(**extra), present) == expected


def test_resolved_alert_is_kept_fifteen_minutes_then_forgotten() -> None:
    states = run(rule(), [True] + [False] * 17)
    assert states[1:16] == [R] * 15
    assert states[16:] == [R, None]


def test_transitions_name_each_change_once() -> None:
    r = rule(**{"for": "1m"})
    first = evaluate(r, [(UP, 0.0)], RuleState(), 0)
    second = evaluate(r, [(UP, 0.0)], first.state, MIN)
    third = evaluate(r, [], second.state, 2 * MIN)
    moves = [
        (t.before, t.after, t.at_ms)
        for t in (*first.transitions, *second.transitions, *third.transitions)
    ]
    assert moves == [(R, P, 0), (P, F, MIN), (F, R, 2 * MIN)]


def test_each_label_set_is_its_own_alert_with_alerts_series() -> None:
    other = make_labels({"__name__": "up", "job": "web"})
    result = evaluate(rule(**{"for": "1m"}), [(UP, 0.0), (other, 0.0)], RuleState(), 5 * MIN)
    names = sorted(
        (dict(labels)["__name__"], dict(labels)["job"], v) for labels, v in result.series
    )
    assert names == [
        ("ALERTS", "api", 1.0),
        ("ALERTS", "web", 1.0),
        ("ALERTS_FOR_STATE", "api", 300.0),
        ("ALERTS_FOR_STATE", "web", 300.0),
    ]
    assert all(dict(labels).get("alertstate") in (None, "pending") for labels, _ in result.series)
    assert firing(result.state) == []


def test_annotations_are_templated_with_labels_and_value() -> None:
    r = rule(annotations={"summary": "{{ $labels.job }} at {{ $value | humanize }}"})
    result = evaluate(r, [(UP, 2500.0)], RuleState(), 0)
    assert dict(firing(result.state)[0].annotations) == {"summary": "api at 2.5k"}


def test_label_sets_that_collide_after_dropping_the_name_are_an_error() -> None:
    twin = make_labels({"__name__": "down", "job": "api"})
    with pytest.raises(AlertEvalError, match="same labelset"):
        evaluate(rule(), [(UP, 0.0), (twin, 0.0)], RuleState(), 0)


def test_state_survives_a_restart_because_it_is_plain_data() -> None:
    r = rule(**{"for": "2m"})
    before = evaluate(r, [(UP, 0.0)], RuleState(), 0).state
    restored = RuleState(dict(before.alerts))  # what a store would hand back
    after = evaluate(r, [(UP, 0.0)], restored, 2 * MIN).state
    assert after.alerts[KEY].state is State.FIRING
    assert after.alerts[KEY].active_at_ms == 0

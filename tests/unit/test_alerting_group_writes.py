"""Rule outputs reach the store only when a later rule of the group may read them, or at
the group's end: the same answers as writing after every rule, without a store merge per
rule (bench/alerting.py)."""

from __future__ import annotations

import pytest

from safeship.alerting.group import GroupState, evaluate_group, metric_names
from safeship.alerting.manager import LoadedGroup, RuleManager
from safeship.alerting.rules import RuleGroup
from safeship.metrics.promql import Engine, Vector
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock


@pytest.mark.parametrize(
    ("reader", "seen"),
    [
        ('count(ALERTS{alertname="Up"})', 1.0),
        ('count({__name__="ALERTS", alertname="Up"})', 1.0),  # unnamed selector: flush too
        ("count(job:up) + count(ALERTS_FOR_STATE)", 2.0),
    ],
)
def test_a_later_rule_sees_what_earlier_rules_wrote_in_the_same_evaluation(
    reader: str, seen: float
) -> None:
    group = RuleGroup.model_validate(
        {
            "name": "g",
            "rules": [
                {"alert": "Up", "expr": "up == 1", "for": "1m"},
                {"record": "job:up", "expr": "sum by (job) (up)"},
                {"record": "seen", "expr": reader},
            ],
        }
    )
    store = SeriesStore()
    store.append({"__name__": "up", "job": "api"}, 0, 1.0)
    engine = Engine(store)
    result = evaluate_group(group, engine=engine, store=store, state=GroupState(), now_ms=0)
    assert result.errors == ()
    answer = engine.instant("seen", 0)
    assert isinstance(answer, Vector) and answer.samples() == [((("__name__", "seen"),), seen)]


def test_outputs_nobody_in_the_group_reads_are_written_at_its_end() -> None:
    group = RuleGroup.model_validate(
        {"name": "g", "rules": [{"record": "a", "expr": "up"}, {"record": "b", "expr": "up"}]}
    )
    store = SeriesStore()
    store.append({"__name__": "up"}, 0, 1.0)
    evaluate_group(group, engine=Engine(store), store=store, state=GroupState(), now_ms=0)
    assert len(Engine(store).instant("a or b", 0)) == 1  # type: ignore[arg-type]
    assert {dict(s)["__name__"] for s in store.match_labels([])} >= {"a", "b"}


def test_metric_names_reads_through_every_kind_of_expression() -> None:
    expr = "histogram_quantile(0.9, sum by (le) (rate(a[5m]))) / on () max_over_time(b[1h:1m]) > -c"
    assert metric_names(expr) == frozenset({"a", "b", "c"})
    assert metric_names('{job="x"} + a') is None


def test_the_manager_writes_once_per_instant_yet_later_groups_see_earlier_groups() -> None:
    first = RuleGroup.model_validate({"name": "a", "rules": [{"record": "r1", "expr": "up"}]})
    second = RuleGroup.model_validate({"name": "b", "rules": [{"record": "r2", "expr": "r1 * 2"}]})
    store = SeriesStore()
    store.append({"__name__": "up"}, 0, 3.0)
    groups = [LoadedGroup(first, "f"), LoadedGroup(second, "f")]
    manager = RuleManager(groups, engine=Engine(store), store=store, clock=FakeClock(0.0))
    manager.evaluate_due()
    assert [s.errors for s in manager.groups()] == [(), ()]
    answer = Engine(store).instant("r2", 0)
    assert isinstance(answer, Vector) and answer.samples() == [((("__name__", "r2"),), 6.0)]


def test_a_template_query_sees_what_earlier_rules_wrote_in_the_same_evaluation() -> None:
    group = RuleGroup.model_validate(
        {
            "name": "g",
            "rules": [
                {"record": "job:up", "expr": "sum by (job) (up) * 7"},
                {
                    "alert": "Up",
                    "expr": "up == 1",
                    "annotations": {
                        "seen": '{{ with query "job:up" }}{{ . | first | value }}{{ end }}'
                    },
                },
            ],
        }
    )
    store = SeriesStore()
    store.append({"__name__": "up", "job": "api"}, 0, 1.0)
    result = evaluate_group(group, engine=Engine(store), store=store, state=GroupState(), now_ms=0)
    [alert] = result.state.alerts[1].alerts.values()
    assert dict(alert.annotations)["seen"] == "7"

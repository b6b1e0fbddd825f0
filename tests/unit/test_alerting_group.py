"""A rule group over the real engine and store: recordings are written back, alerts evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from safeship.alerting.group import GroupState, evaluate_group
from safeship.alerting.rule_tests import run_file
from safeship.alerting.rules import RuleGroup
from safeship.cli.main import app
from safeship.core.errors import ConfigError
from safeship.metrics.promql import Engine, Vector
from safeship.metrics.store import SeriesStore

MIN = 60_000
GROUP = RuleGroup.model_validate(
    {
        "name": "g",
        "rules": [
            {"record": "job:up:sum", "expr": "sum by (job) (up)", "labels": {"team": "a"}},
            {"alert": "JobDown", "expr": "job:up:sum == 0"},
        ],
    }
)


def _tick(store: SeriesStore, engine: Engine, state: GroupState, minute: int) -> GroupState:
    result = evaluate_group(GROUP, engine=engine, store=store, state=state, now_ms=minute * MIN)
    assert result.errors == ()
    return result.state


def test_recording_feeds_the_alert_in_the_same_evaluation() -> None:
    store = SeriesStore()
    store.append({"__name__": "up", "job": "api"}, 0, 0.0)
    engine = Engine(store, default_step=60.0)
    state = _tick(store, engine, GroupState(), 0)
    alerts = state.alerts[1].alerts
    assert [dict(a.labels) for a in alerts.values()] == [
        {"alertname": "JobDown", "job": "api", "team": "a"}
    ]
    firing = engine.instant('ALERTS{alertstate="firing"}', 0)
    assert isinstance(firing, Vector) and len(firing.labels) == 1


def test_series_a_rule_stops_producing_go_stale_at_once() -> None:
    store = SeriesStore()
    store.append({"__name__": "up", "job": "api"}, 0, 0.0)
    engine = Engine(store, default_step=60.0)
    state = _tick(store, engine, GroupState(), 0)
    store.append({"__name__": "up", "job": "api"}, MIN, 1.0)
    _tick(store, engine, state, 1)
    before, after = engine.instant("ALERTS", 30), engine.instant("ALERTS", 90)
    assert isinstance(before, Vector) and len(before.labels) == 1
    assert isinstance(after, Vector) and after.labels == []


def test_a_failing_alert_expectation_is_reported(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n"
    )
    (tmp_path / "t.yml").write_text(
        "rule_files: [r.yml]\ntests:\n  - input_series:\n      - series: up\n        values: '0'\n"
        "    alert_rule_test:\n      - eval_time: 0m\n        alertname: Down\n"
        "        exp_alerts: []\n"
    )
    result = run_file(tmp_path / "t.yml")
    assert not result.passed
    assert "alertname: Down, time: 0s" in result.failures[0]
    assert 'alertname="Down"' in result.failures[0]


def test_rules_check_exits_2_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n")
    run = CliRunner().invoke(app, ["rules", "check", str(bad)])
    assert run.exit_code == 2
    assert f"{bad}:5: key 'groups[0].rules[0].expr'" in run.output


def test_rules_check_accepts_a_good_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n")
    run = CliRunner().invoke(app, ["rules", "check", str(good)])
    assert run.exit_code == 0
    assert "SUCCESS: 1 rules found" in run.output


def test_an_unknown_group_in_group_eval_order_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text("groups:\n  - name: g\n")
    test = tmp_path / "t.yml"
    test.write_text("rule_files: [r.yml]\ngroup_eval_order:\n  - g\n  - nope\ntests: []\n")
    with pytest.raises(ConfigError, match=r"t.yml:4: key 'group_eval_order' found 'nope'"):
        run_file(test)

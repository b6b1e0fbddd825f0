"""/prometheus/api/v1/rules and /alerts answer in Prometheus's JSON shapes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from safeship.alerting.manager import LoadedGroup, RuleManager
from safeship.alerting.rules import RuleGroup
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.server.app import create_app
from safeship.server.rules_api import go_float
from safeship.testing import FakeClock

GROUP = RuleGroup.model_validate(
    {
        "name": "demo",
        "interval": "30s",
        "rules": [
            {"record": "job:up", "expr": "sum by (job) (up)"},
            {
                "alert": "Up",
                "expr": "up == 1",
                "for": "1m",
                "keep_firing_for": "2m",
                "labels": {"severity": "info"},
                "annotations": {"summary": "{{ $labels.job }} is up"},
            },
            {"alert": "Never", "expr": "up == 2"},
        ],
    }
)
T0 = 1_700_000_000.0


def _client() -> tuple[TestClient, RuleManager, FakeClock]:
    clock = FakeClock(T0)
    store = SeriesStore()
    store.append({"__name__": "up", "job": "demo"}, round(T0 * 1000), 1.0)
    engine = Engine(store)
    manager = RuleManager(
        [LoadedGroup(GROUP, "/etc/rules.yml")], engine=engine, store=store, clock=clock
    )
    app = create_app(
        engine=engine,
        store=store,
        clock=clock,
        registry=CollectorRegistry(),
        ready=no_reasons,
        rules=manager,
    )
    return TestClient(app), manager, clock


def test_rules_before_the_first_evaluation_are_unknown() -> None:
    client, _, _ = _client()
    (group,) = client.get("/prometheus/api/v1/rules").json()["data"]["groups"]
    assert group["lastEvaluation"] == "0001-01-01T00:00:00Z"
    assert [r["health"] for r in group["rules"]] == ["unknown"] * 3


def test_rules_shape_after_an_evaluation() -> None:
    client, manager, _ = _client()
    manager.evaluate_due()
    body = client.get("/prometheus/api/v1/rules").json()
    assert body["status"] == "success"
    (group,) = body["data"]["groups"]
    took = group.pop("evaluationTime")
    assert 0 < took < 1.0  # measured (perf_counter), not a default of 0
    recording, up, never = group.pop("rules")
    assert group == {
        "name": "demo",
        "file": "/etc/rules.yml",
        "interval": 30.0,
        "limit": 0,
        "lastEvaluation": "2023-11-14T22:13:20Z",
    }
    for rule in (recording, up, never):
        assert rule.pop("evaluationTime") == took  # the group's, until rules are timed apart
        assert rule.pop("lastEvaluation") == "2023-11-14T22:13:20Z"
    assert recording == {
        "name": "job:up",
        "query": "sum by (job) (up)",
        "labels": {},
        "health": "ok",
        "type": "recording",
    }
    pending = {
        "labels": {"alertname": "Up", "job": "demo", "severity": "info"},
        "annotations": {"summary": "demo is up"},
        "state": "pending",
        "activeAt": "2023-11-14T22:13:20Z",
        "value": "1e+00",
    }
    assert up == {
        "name": "Up",
        "query": "up == 1",
        "duration": 60.0,
        "keepFiringFor": 120.0,
        "labels": {"severity": "info"},
        "annotations": {"summary": "{{ $labels.job }} is up"},
        "alerts": [pending],
        "health": "ok",
        "state": "pending",
        "type": "alerting",
    }
    assert never["state"] == "inactive" and never["alerts"] == []


def test_alerts_lists_pending_and_firing_alerts() -> None:
    client, manager, clock = _client()
    assert client.get("/prometheus/api/v1/alerts").json() == {
        "status": "success",
        "data": {"alerts": []},
    }
    manager.evaluate_due()
    clock.advance(60)
    manager.evaluate_due()
    (alert,) = client.get("/prometheus/api/v1/alerts").json()["data"]["alerts"]
    assert alert["state"] == "firing"
    assert alert["activeAt"] == "2023-11-14T22:13:20Z"
    assert alert["labels"]["alertname"] == "Up" and alert["value"] == "1e+00"


def test_values_are_written_like_go() -> None:
    cases = {0.0: "0e+00", 0.25: "2.5e-01", 1234.5: "1.2345e+03", float("inf"): "+Inf"}
    assert {v: go_float(v) for v in cases} == cases
    assert go_float(float("nan")) == "NaN"


def test_without_a_manager_the_routes_are_not_mounted() -> None:
    store = SeriesStore()
    app = create_app(
        engine=Engine(store),
        store=store,
        clock=FakeClock(),
        registry=CollectorRegistry(),
        ready=no_reasons,
    )
    assert TestClient(app).get("/prometheus/api/v1/alerts").status_code == 404


async def no_reasons() -> list[str]:
    return []

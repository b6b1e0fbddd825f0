"""`safeship export grafana-dashboard|alertmanager`: what the files hold.

The dashboard is checked the way Grafana would use it: each panel's query, with the
template variables substituted, parses with safeship's PromQL parser and reads only
metrics safeship exports (collected from the real collectors) or records (SLO rules).
"""

from __future__ import annotations

import json
from typing import Any

import typer
import yaml
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.registry import Collector
from typer.testing import CliRunner

from safeship.alerting.defaults import default_rules
from safeship.alerting.delivery import DeliveryMetrics
from safeship.alerting.exports import alertmanager_config, grafana_dashboard
from safeship.alerting.slo import slo_group
from safeship.cli import export as export_cli
from safeship.config.slo import SloSpec
from safeship.metrics.promql.parsing import parse
from safeship.metrics.scrape import REPORT
from safeship.rollout.metrics import RolloutCollector
from safeship.traffic.proxy.stats import RouterCollector, RouterStats
from safeship.wiring.audit_watch import AuditWatch

SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
PANEL_FIELDS = {"id", "type", "title", "gridPos", "datasource", "targets"}


def _names(collector: Collector) -> set[str]:
    found = set()
    for family in collector.collect():
        found |= {family.name + s for s in SUFFIXES.get(family.type, [""])}
    return found


def exported_names() -> set[str]:
    """Every metric name safeship serves or records, read from the code that does."""
    registry = CollectorRegistry()
    stats = RouterStats("shop")
    stats.for_(version="v1", pool="stable")
    RolloutCollector(list, registry=registry, clock=lambda: 0.0)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    AuditWatch(None, registry=registry, clock=None)  # type: ignore[arg-type]  # gauges only
    DeliveryMetrics(registry)
    names = _names(RouterCollector(stats)) | set(REPORT)
    names |= {s.name for family in registry.collect() for s in family.samples}
    names |= {f.name for f in registry.collect()}  # families with no sample yet
    names |= {f.name + s for f in registry.collect() for s in SUFFIXES.get(f.type, [])}
    slo = SloSpec(
        name="s",
        service="s",
        objective=99,
        total="rate(x[{{.window}}])",
        errors="rate(y[{{.window}}])",
    )
    names |= {r.record for r in slo_group(slo, runbook_url="https://x").rules if r.record}
    return names


def _metric_names(node: Any) -> set[str]:
    """Names of every vector selector in a promql-parser AST."""
    kind = type(node).__name__
    if kind == "VectorSelector":
        return {node.name}
    children = [getattr(node, a, None) for a in ("expr", "lhs", "rhs", "vector_selector", "param")]
    children += list(getattr(node, "args", None) or [])
    return set().union(
        *(
            _metric_names(c)
            for c in children
            if c is not None and not isinstance(c, str | int | float)
        )
    )


def _panels() -> list[dict[str, Any]]:
    return grafana_dashboard()["panels"]  # type: ignore[no-any-return]


def test_dashboard_has_the_fields_grafana_requires() -> None:
    board = grafana_dashboard()
    assert {"title", "uid", "schemaVersion", "panels", "templating", "time"} <= set(board)
    assert isinstance(board["schemaVersion"], int)
    for panel in board["panels"]:
        assert set(panel) >= PANEL_FIELDS, panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all({"expr", "refId"} <= set(t) for t in panel["targets"])
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for topic in ("requests", "error ratio", "p99", "step", "weight", "phase", "health", "burn"):
        assert topic in titles


def test_every_panel_query_parses_and_reads_only_safeship_metrics() -> None:
    known = exported_names()
    assert {"safeship_router_requests_total", "safeship_rollout_phase", "up"} <= known
    used: set[str] = set()
    for panel in _panels():
        for target in panel["targets"]:
            expr = target["expr"].replace("$service", ".*")  # as Grafana substitutes it
            used |= _metric_names(parse(expr))
    assert used and used <= known, used - known


def test_the_parser_walk_sees_through_functions_and_operators() -> None:
    names = _metric_names(
        parse('histogram_quantile(0.9, sum by (le) (rate(a[5m]))) / on() b{x="1"}')
    )
    assert names == {"a", "b"}


def test_alertmanager_routes_by_severity_and_inhibits_within_a_service() -> None:
    config = alertmanager_config(pager_url="https://p.example/x", ticket_url="https://t.example/y")
    routes = {r["receiver"]: r["matchers"] for r in config["route"]["routes"]}
    assert routes == {
        "pager": ['severity=~"page|critical"'],
        "ticket": ['severity=~"ticket|warning"'],
    }
    critical = config["inhibit_rules"][0]
    assert critical["source_matchers"] == ['severity="critical"']
    assert critical["target_matchers"] == ['severity="warning"']
    assert critical["equal"] == ["service"]
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
    assert urls == {"pager": "https://p.example/x", "ticket": "https://t.example/y"}


def test_export_commands_print_yaml_and_json() -> None:
    app = typer.Typer()
    export_cli.register(app)
    runner = CliRunner()
    board = runner.invoke(app, ["export", "grafana-dashboard", "--title", "prod"])
    assert board.exit_code == 0 and json.loads(board.output)["title"] == "prod"
    am = runner.invoke(app, ["export", "alertmanager", "--pager-url", "https://p.example/x"])
    assert yaml.safe_load(am.output)["receivers"][0]["webhook_configs"][0]["url"] == (
        "https://p.example/x"
    )
    rules = yaml.safe_load(runner.invoke(app, ["export", "prometheus-rules"]).output)
    assert [g["name"] for g in rules["groups"]] == ["safeship-defaults"]


def test_default_rules_read_only_metrics_safeship_exports() -> None:
    used = {
        name
        for group in default_rules(runbook_url="http://x").groups
        for rule in group.rules
        for name in _metric_names(parse(rule.expr))
    }
    assert used - exported_names() == set()

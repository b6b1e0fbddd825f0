"""safeship's packaged default rules, their runbooks, and what `safeship serve` loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from safeship.alerting.defaults import (
    DEFAULTS_FILE,
    SLOS_FILE,
    default_rules,
    generated_groups,
    runbook,
    runbook_names,
)
from safeship.cli import slo as slo_cli
from safeship.config.metrics import ControlPlaneConfig
from safeship.core.errors import NotFound
from safeship.store import Store
from safeship.testing import FakeClock
from safeship.wiring.audit_watch import AuditWatch
from tests.unit.tampering import tamper

ROOT = Path(__file__).resolve().parents[2]
ALERTS = {
    "SafeshipHighErrorRatio",
    "SafeshipHighLatencyP99",
    "SafeshipTargetDown",
    "SafeshipTargetUnhealthy",
    "SafeshipRestartLoop",
    "SafeshipMemoryGrowth",
    "SafeshipRolloutStuck",
    "SafeshipScrapeFailing",
    "SafeshipNotificationFailing",
    "SafeshipAuditVerificationFailing",
}
SLO = {
    "name": "shop",
    "service": "shop",
    "objective": 99.5,
    "total": "sum(rate(safeship_router_requests_total[{{.window}}]))",
    "errors": 'sum(rate(safeship_router_requests_total{code=~"5.."}[{{.window}}]))',
}


BASE = "http://127.0.0.1:8470/runbooks"


def _alerts(runbook_url: str = BASE) -> dict[str, dict[str, str]]:
    rules = [r for g in default_rules(runbook_url=runbook_url).groups for r in g.rules]
    return {r.name: {**r.labels, **r.annotations} for r in rules if r.alert}


def test_every_default_alert_has_a_severity_and_its_own_runbook() -> None:
    alerts = _alerts()
    assert set(alerts) == ALERTS
    for name, fields in alerts.items():
        assert fields["severity"] in ("critical", "warning")
        assert fields["runbook_url"] == f"{BASE}/{name}.md"
        assert runbook(name).startswith(f"# {name}\n")
    # and no runbook for an alert that does not exist (the SLO alert has one too)
    assert set(runbook_names()) == ALERTS | {"SLOErrorBudgetBurn"}


def test_runbook_links_follow_the_configured_base() -> None:
    alerts = _alerts("https://wiki.example.com/rb")
    assert alerts["SafeshipTargetDown"]["runbook_url"] == (
        "https://wiki.example.com/rb/SafeshipTargetDown.md"
    )


def test_docs_runbooks_are_the_packaged_files() -> None:
    docs = ROOT / "docs" / "runbooks"
    packaged = ROOT / "src" / "safeship" / "alerting" / "runbooks"
    assert docs.resolve() == packaged.resolve()


def test_serve_loads_the_defaults_unless_disabled_and_every_slo() -> None:
    config = ControlPlaneConfig.model_validate({"slos": [SLO]})
    loaded = generated_groups(config)
    assert [(g.file, g.group.name) for g in loaded] == [
        (DEFAULTS_FILE, "safeship-defaults"),
        (SLOS_FILE, "slo:shop"),
    ]
    off = ControlPlaneConfig.model_validate({"slos": [SLO], "default_rules": False})
    assert [g.file for g in generated_groups(off)] == [SLOS_FILE]
    assert generated_groups(ControlPlaneConfig.model_validate({"default_rules": False})) == []


def test_slo_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique SLO names, found shop twice"):
        ControlPlaneConfig.model_validate({"slos": [SLO, SLO]})


def test_runbook_command_prints_it_and_refuses_unknown_alerts() -> None:
    app = typer.Typer()
    slo_cli.register(app)
    shown = CliRunner().invoke(app, ["runbook", "SafeshipRolloutStuck"])
    assert shown.exit_code == 0
    assert shown.output == runbook("SafeshipRolloutStuck")
    missing = CliRunner().invoke(app, ["runbook", "Nope"])
    assert missing.exit_code == 2
    assert "no runbook for 'Nope'" in missing.output
    with pytest.raises(NotFound):
        runbook("../../pyproject")


def test_serve_exports_whether_its_audit_chain_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    registry = CollectorRegistry()
    clock = FakeClock(start=1_800_000_000.0)
    with Store.open(url, clock=clock) as store:
        for action in ("rollout.start", "weight.set"):
            store.audit(actor="alice", action=action, rollout_id="r", service="s", details={})
        watch = AuditWatch(store, registry=registry, clock=clock)
        assert watch.check() is True
        assert registry.get_sample_value("safeship_audit_verified") == 1.0
        tamper(url, "UPDATE audit SET actor = 'mallory' WHERE id = 2")
        assert watch.check() is False
    assert registry.get_sample_value("safeship_audit_verified") == 0.0
    last = registry.get_sample_value("safeship_audit_last_verification_timestamp_seconds")
    assert last == 1_800_000_000.0

"""The `scale` incident action: refused in safeship.yaml unless the definition pins a
declared service, and run at the edge through the `Scaler` (a fake here), audited with the
incident as actor; a refusal goes on the timeline as a failed action."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from safeship.alerting.evaluator import Alert, State
from safeship.config.documents import load_model
from safeship.config.incidents import IncidentsSpec
from safeship.config.models import SafeshipConfig
from safeship.core.clock import VirtualClock
from safeship.core.errors import ConfigError, Conflict
from safeship.core.incidents import EntryKind
from safeship.core.labels import make_labels
from safeship.incidents.manager import IncidentManager
from safeship.store.repository import Store
from safeship.testing import FakeClock
from safeship.wiring.agent_stack import AgentHome
from safeship.wiring.control import Controller

SERVICE = {
    "service": {"name": "shop", "command": ["python", "-m", "x"], "stable": "v1"},
    "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
}


def config_file(tmp_path: Path, matchers: list[str], action: dict[str, Any]) -> Path:
    definition = {"name": "busy", "matchers": matchers, "actions": [action]}
    document = {"services": [SERVICE], "incidents": {"definitions": [definition]}}
    path = tmp_path / "safeship.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_model(path, SafeshipConfig)
    return str(raised.value)


def test_a_scale_of_a_declared_service_loads(tmp_path: Path) -> None:
    path = config_file(tmp_path, ['service="shop"'], {"type": "scale", "replicas": 3})
    (definition,) = load_model(path, SafeshipConfig).incidents.definitions
    assert definition.service == "shop"
    assert definition.actions[0].type == "scale"


@pytest.mark.parametrize(
    ("matchers", "replicas", "expected"),
    [
        (['service="shoe"'], 3, "found scale of shoe, expected a service of services (shop)"),
        (['alertname="Busy"'], 3, 'found none, expected a matcher service="<name>" with scale'),
        (['service=~"sh.*"'], 3, 'found none, expected a matcher service="<name>" with scale'),
        (['service="shop"'], 0, "greater than or equal to 1"),
        (['service="shop"'], 101, "less than or equal to 100"),
    ],
)
def test_a_scale_is_refused_at_its_file_line_and_key(
    tmp_path: Path, matchers: list[str], replicas: int, expected: str
) -> None:
    path = config_file(tmp_path, matchers, {"type": "scale", "replicas": replicas})
    message = refusal(path)
    assert f"{path}:" in message and "key 'incidents.definitions[0].actions[0]" in message
    line = message.split(f"{path}:", 1)[1].split(":", 1)[0]
    assert path.read_text().splitlines()[int(line) - 1].lstrip().startswith("- type: scale")
    assert expected in message


class FakeScaler:
    def __init__(self, refuse: str | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.refuse = refuse

    def scale(self, service: str, replicas: int) -> str:
        self.calls.append((service, replicas))
        if self.refuse is not None:
            raise Conflict(self.refuse)
        return f"{service} scaled from 2 to {replicas} replicas of v1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=FakeClock()) as opened:
        yield opened


def run_incident(store: Store, scaler: FakeScaler) -> tuple[str, list[tuple[EntryKind, str]]]:
    definition = {
        "name": "busy",
        "matchers": ['service="shop"'],
        "actions": [{"type": "scale", "replicas": 3, "cooldown": "10m"}],
    }
    spec = IncidentsSpec.model_validate({"definitions": [definition]})
    labels = make_labels({"alertname": "Busy", "service": "shop"})
    alert = Alert(labels, (), State.FIRING, 1.0, active_at_ms=0, fired_at_ms=0)
    assert isinstance(store.clock, FakeClock)
    manager = IncidentManager(
        spec, store=store, clock=store.clock, alerts=lambda: [alert], scaler=scaler
    )
    (incident,) = manager.tick().incidents
    assert scaler.calls == []  # persisted as requested first, run after
    assert manager.run_requested() == 1
    with store.read_incidents() as rows:
        entries = [(e.kind, e.message) for e in rows.timeline(incident.id)]
    return incident.actor, entries


def test_a_scale_action_runs_through_the_scaler_and_is_audited(store: Store) -> None:
    scaler = FakeScaler()
    actor, entries = run_incident(store, scaler)
    assert scaler.calls == [("shop", 3)]
    done = (EntryKind.ACTION_SUCCEEDED, "0:scale: shop scaled from 2 to 3 replicas of v1")
    assert done in entries
    audited = [(e.actor, e.action, e.service) for e in store.audit_entries()]
    assert (actor, "scale service", "shop") in audited


def test_a_refused_scale_fails_on_the_timeline_and_is_not_audited(store: Store) -> None:
    scaler = FakeScaler(refuse="rollout r-1 of shop is under way; scale after it ends")
    _, entries = run_incident(store, scaler)
    refused = "0:scale: scale of shop refused: rollout r-1 of shop is under way"
    assert any(k is EntryKind.ACTION_FAILED and m.startswith(refused) for k, m in entries)
    assert "scale service" not in [e.action for e in store.audit_entries()]


def test_the_controller_refuses_to_scale_a_service_while_its_rollout_is_under_way(
    tmp_path: Path,
) -> None:
    path = config_file(tmp_path, ['service="shop"'], {"type": "scale", "replicas": 3})
    config = load_model(path, SafeshipConfig)
    clock = VirtualClock(start=1_800_000_000.0)
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as store:
        control = Controller(config, store=store, clock=clock, home=AgentHome(tmp_path))
        with pytest.raises(Conflict, match="not leading"):  # its loop is not running
            control.scale("shop", 3)
        rollout_id = control.deploy("shop", "v2", actor="operator")
        spec = config.service("shop")
        assert spec is not None
        with pytest.raises(Conflict, match=f"rollout {rollout_id} of shop is under way"):
            asyncio.run(control._scale(spec, 3))
    assert not (tmp_path / "agent.sock").exists()  # refused before reaching for the agent

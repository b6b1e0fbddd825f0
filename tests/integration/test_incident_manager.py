"""The incident manager over a real SQLite store: actions persisted before they run and run
once across a restart, cooldowns that survive a restart, real commands and a real loopback
webhook, and the Alertmanager webhook and `safeship incidents` through the real API."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeship.alerting.evaluator import Alert, State
from safeship.config.incidents import IncidentsSpec
from safeship.core.incidents import ActionState, EntryKind, Status
from safeship.core.labels import make_labels
from safeship.core.secrets import SECRETS
from safeship.incidents import lifecycle
from safeship.incidents.manager import IncidentManager
from safeship.store.repository import Store
from safeship.store.tokens import Role
from safeship.testing import FakeClock
from tests.api_kit import api_app, served, tokens
from tests.helpers import run_cli

pytestmark = pytest.mark.integration
PY = sys.executable


def spec(*actions: dict[str, Any], **extra: Any) -> IncidentsSpec:
    definition = {
        "name": "errors",
        "matchers": ['alertname="HighErrors"'],
        "groupBy": ["service"],
        "actions": list(actions),
        **extra,
    }
    return IncidentsSpec.model_validate({"definitions": [definition]})


def firing(name: str = "HighErrors", service: str = "shop") -> Alert:
    labels = make_labels({"alertname": name, "service": service})
    return Alert(labels, (), State.FIRING, 1.0, active_at_ms=0, fired_at_ms=0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=FakeClock()) as opened:
        yield opened


class Alerts:
    """What the rule manager reports as firing; tests change it between ticks."""

    def __init__(self, *alerts: Alert) -> None:
        self.now = list(alerts)

    def __call__(self) -> list[Alert]:
        return self.now


def manager(store: Store, incidents: IncidentsSpec, alerts: Alerts) -> IncidentManager:
    """A freshly started manager: everything it knows comes from the store."""
    assert isinstance(store.clock, FakeClock)
    return IncidentManager(incidents, store=store, clock=store.clock, alerts=alerts)


def timeline(store: Store) -> list[tuple[EntryKind, str]]:
    with store.read_incidents() as rows:
        return [(e.kind, e.message) for i in rows.listing() for e in rows.timeline(i.id)]


def test_a_requested_action_runs_once_even_when_the_manager_dies_before_running_it(
    store: Store, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    script = f"open({str(marker)!r}, 'a').write('{{service}} {{incident}}\\n'); print('done')"
    incidents = spec({"type": "command", "command": [PY, "-c", script]})
    alerts = Alerts(firing())
    decision = manager(store, incidents, alerts).tick()  # persisted, then "killed"
    (incident,) = decision.incidents
    assert not marker.exists()
    restarted = manager(store, incidents, alerts)
    assert restarted.run_requested() == 1
    assert restarted.run_requested() == 0
    assert marker.read_text() == f"shop {incident.id}\n"
    assert (EntryKind.ACTION_SUCCEEDED, f"0:command: {PY} exited 0: done") in timeline(store)
    assert restarted.tick().actions == ()  # the same alert joins the open incident
    audited = [(e.actor, e.action) for e in store.audit_entries()]
    assert (incident.actor, "incident action succeeded") in audited


def test_a_cooldown_survives_a_restart(store: Store) -> None:
    incidents = spec({"type": "command", "command": [PY, "-c", ""], "cooldown": "1h"})
    alerts = Alerts(firing())
    first = manager(store, incidents, alerts)
    (incident,) = first.tick().incidents
    first.command(incident.id, lambda i, now: lifecycle.resolve(i, actor="alice", now=now))
    assert isinstance(store.clock, FakeClock)
    store.clock.advance(600)
    again = manager(store, incidents, alerts).tick()  # a new incident, inside the cooldown
    assert again.actions == ()
    assert [e.kind for e in again.entries].count(EntryKind.ACTION_SKIPPED) == 1
    store.clock.advance(3600)
    (reopened,) = again.incidents
    manager(store, incidents, alerts).command(
        reopened.id, lambda i, now: lifecycle.resolve(i, actor="alice", now=now)
    )
    assert len(manager(store, incidents, alerts).tick().actions) == 1


@pytest.mark.parametrize(
    ("command", "result"),
    [
        (
            [PY, "-c", "import sys; print('token hunter2-secret'); sys.exit(3)"],
            "exited 3: token ***",
        ),
        ([PY, "-c", "import time; time.sleep(5)"], "timed out after 0.5s"),
        (["/no/such/program"], "cannot run /no/such/program"),
    ],
)
def test_a_failing_command_is_recorded_with_its_output_scrubbed(
    store: Store, command: list[str], result: str
) -> None:
    SECRETS.add("hunter2-secret")
    incidents = spec({"type": "command", "command": command, "timeout": "500ms"})
    started = manager(store, incidents, Alerts(firing()))
    started.tick()
    started.run_requested()
    with store.read_incidents() as rows:
        (action,) = rows.actions()
    assert action.state is ActionState.FAILED and result in action.result
    assert "hunter2" not in json.dumps(timeline(store))


def test_a_rollback_without_an_active_rollout_fails_on_the_timeline(store: Store) -> None:
    started = manager(store, spec({"type": "rollback"}), Alerts(firing()))
    started.tick()
    started.run_requested()
    assert (EntryKind.ACTION_FAILED, "0:rollback: no active rollout of shop") in timeline(store)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback that keeps every JSON body it is sent."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_an_unacknowledged_incident_is_posted_to_its_webhooks_and_escalated(
    store: Store, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    incidents = spec({"type": "webhook", "url": url}, escalate={"after": "15m", "url": url})
    started = manager(store, incidents, Alerts(firing()))
    started.tick()
    started.run_requested()
    assert [(r["definition"], r["service"], r["status"]) for r in received] == [
        ("errors", "shop", "open")
    ]
    assert isinstance(store.clock, FakeClock)
    store.clock.advance(900)
    started.tick()
    started.run_requested()
    assert len(received) == 2
    kinds = [kind for kind, _ in timeline(store)]
    assert kinds.count(EntryKind.ESCALATED) == 1 and kinds.count(EntryKind.ACTION_SUCCEEDED) == 2


def test_alertmanager_alerts_open_an_incident_that_people_handle_with_the_cli(
    store: Store, tmp_path: Path
) -> None:
    made = tokens(store)
    with served(api_app(store, incidents=spec())) as url:
        env = {"SAFESHIP_SERVER": url, "SAFESHIP_TOKEN": made[Role.operator]}
        alert = {"status": "firing", "labels": {"alertname": "HighErrors", "service": "shop"}}
        body = {"version": "4", "status": "firing", "receiver": "safeship", "alerts": [alert]}
        posted = run_cli(tmp_path, "incidents", "list", "--format", "json", env=env)
        assert json.loads(posted.stdout) == []
        answer = httpx.post(
            f"{url}/api/v1/alertmanager/webhook",
            json=body,
            headers={"Authorization": f"Bearer {made[Role.operator]}"},
        )
        (incident_id,) = answer.json()["incidents"]
        listed = run_cli(tmp_path, "incidents", "list", "--format", "json", env=env)
        assert [(i["id"], i["status"]) for i in json.loads(listed.stdout)] == [
            (incident_id, "open")
        ]
        acked = run_cli(tmp_path, "incidents", "ack", incident_id, "-m", "on it", env=env)
        assert acked.returncode == 0, acked.stdout + acked.stderr
        again = run_cli(tmp_path, "incidents", "ack", incident_id, env=env)
        assert again.returncode == 2 and "already acknowledged by operator" in again.stderr
        run_cli(tmp_path, "incidents", "note", incident_id, "rolled back by hand", env=env)
        viewer = {**env, "SAFESHIP_TOKEN": made[Role.viewer]}
        refused = run_cli(tmp_path, "incidents", "resolve", incident_id, env=viewer)
        assert refused.returncode == 2 and "403" in refused.stderr
        shown = run_cli(tmp_path, "incidents", "show", incident_id, "--format", "json", env=env)
    detail = json.loads(shown.stdout)
    assert detail["status"] == Status.ACKNOWLEDGED and detail["acknowledged_by"] == "operator"
    assert [(e["kind"], e["actor"]) for e in detail["timeline"]] == [
        ("opened", f"incident:{incident_id}"),
        ("alert fired", f"incident:{incident_id}"),
        ("acknowledged", "operator"),
        ("note", "operator"),
    ]

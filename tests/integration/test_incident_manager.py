"""The incident manager over a real SQLite store: actions persisted before they run and run
once across a restart, cooldowns that survive a restart, real commands and a real loopback
webhook, and the Alertmanager webhook and `safeship incidents` through the real API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeship.alerting.evaluator import Alert, State
from safeship.config.incidents import IncidentsSpec
from safeship.core.incidents import ActionState, EntryKind, Incident, Status
from safeship.core.labels import make_labels
from safeship.core.secrets import SECRETS
from safeship.incidents import lifecycle
from safeship.incidents.manager import CLAIM_STALE_S, IncidentManager
from safeship.store.repository import Store
from safeship.store.tokens import Role
from safeship.testing import FakeClock, free_port
from tests.api_kit import api_app, bearer, served, tokens
from tests.helpers import run_cli

pytestmark = pytest.mark.integration
PY = sys.executable
HOOK_SECRET = "T0KEN-s3krit-path"


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
        yield f"http://127.0.0.1:{server.server_port}/hooks/{HOOK_SECRET}", received
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
    closed = f"http://127.0.0.1:{free_port()}/hooks/{HOOK_SECRET}"  # nobody listens
    broken = spec({"type": "webhook", "url": closed})
    failing = manager(store, broken, Alerts(firing(service="cart")))
    failing.tick()
    failing.run_requested()
    assert EntryKind.ACTION_FAILED in [kind for kind, _ in timeline(store)]
    assert HOOK_SECRET not in stored_text(store)  # a hook's URL is its credential


def stored_text(store: Store) -> str:
    """Every row safeship keeps about incidents, and the audit log, as one text."""
    with store.read_incidents() as rows:
        found = [(i, rows.timeline(i.id), rows.actions(incident_id=i.id)) for i in rows.listing()]
    return repr(found) + repr(store.audit_entries())


def test_alertmanager_alerts_open_an_incident_that_people_handle_with_the_cli(
    store: Store, tmp_path: Path
) -> None:
    made = tokens(store)
    alert = {"status": "firing", "labels": {"alertname": "HighErrors", "service": "shop"}}
    body = {"version": "4", "status": "firing", "receiver": "safeship", "alerts": [alert]}
    with served(api_app(store, incidents=spec())) as url:
        env = {"SAFESHIP_SERVER": url, "SAFESHIP_TOKEN": made[Role.operator]}
        with httpx.Client(base_url=f"{url}/api/v1") as api:
            answer = api.post(
                "/alertmanager/webhook", json=body, headers=bearer(made[Role.operator])
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
            note = {"message": "rolled back by hand"}
            path = f"/incidents/{incident_id}"
            assert api.post(
                f"{path}/notes", json=note, headers=bearer(made[Role.operator])
            ).is_success
            refused = api.post(f"{path}/resolve", headers=bearer(made[Role.viewer]))
            assert refused.status_code == 403
            shown = run_cli(tmp_path, "incidents", "show", incident_id, "--format", "json", env=env)
    detail = json.loads(shown.stdout)
    assert detail["status"] == Status.ACKNOWLEDGED and detail["acknowledged_by"] == "operator"
    assert [(e["kind"], e["actor"]) for e in detail["timeline"]] == [
        ("opened", f"incident:{incident_id}"),
        ("alert fired", f"incident:{incident_id}"),
        ("acknowledged", "operator"),
        ("note", "operator"),
    ]


ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AM_CONFIG = """\
route:
  receiver: safeship
  group_by: [service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: safeship
    webhook_configs:
      - url: {url}/api/v1/alertmanager/webhook
        send_resolved: true
        http_config: {{authorization: {{credentials_file: {token}}}}}
"""


@pytest.mark.skipif(ALERTMANAGER is None, reason="needs Debian's prometheus-alertmanager")
def test_a_real_alertmanager_opens_and_resolves_an_incident(store: Store, tmp_path: Path) -> None:
    assert ALERTMANAGER is not None
    token = tmp_path / "token"
    token.write_text(tokens(store)[Role.operator])
    with served(api_app(store, incidents=spec())) as url:
        (tmp_path / "am.yml").write_text(AM_CONFIG.format(url=url, token=token))
        listen = f"127.0.0.1:{free_port()}"
        argv = [ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}"]
        argv += [f"--storage.path={tmp_path / 'am'}", f"--web.listen-address={listen}"]
        argv += ["--cluster.listen-address="]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            alert = {"labels": {"alertname": "HighErrors", "service": "shop"}}
            _post_until_accepted(f"http://{listen}/api/v2/alerts", [alert])
            (incident,) = _wait_for(store, lambda i: i.firing == 1)
            ended = {**alert, "endsAt": "2000-01-01T00:00:00Z"}
            _post_until_accepted(f"http://{listen}/api/v2/alerts", [ended])
            (quiet,) = _wait_for(store, lambda i: i.quiet_since is not None)
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert incident.id == quiet.id and incident.service == "shop"
    kinds = [kind for kind, _ in timeline(store)]
    assert kinds == [
        EntryKind.OPENED,
        EntryKind.ALERT_FIRED,
        EntryKind.ALERT_RESOLVED,
        EntryKind.ALERTS_RESOLVED,
    ]


def _post_until_accepted(url: str, alerts: list[dict[str, Any]]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.post(url, json=alerts, timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait_for(store: Store, condition: Callable[[Incident], bool]) -> list[Incident]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with store.read_incidents() as rows:
            found = [i for i in rows.listing() if condition(i)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("Alertmanager's webhook did not reach safeship within 15 s")


def test_an_action_claimed_by_another_manager_runs_again_only_once_its_claim_is_stale(
    store: Store, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    incidents = spec({"type": "command", "command": [PY, "-c", f"open({str(marker)!r}, 'a')"]})
    alerts = Alerts(firing())
    manager(store, incidents, alerts).tick()
    assert isinstance(store.clock, FakeClock)
    now = store.clock.now()
    with store.transaction() as tx:  # another manager claims it, and dies running it
        (action,) = tx.incidents.runnable(stale_before=now)
        assert tx.incidents.claim(action.id, now=now, stale_before=now - CLAIM_STALE_S)
        # a second claim (the other manager listed it too) loses
        assert not tx.incidents.claim(action.id, now=now, stale_before=now - CLAIM_STALE_S)
    survivor = manager(store, incidents, alerts)
    assert survivor.run_requested() == 0 and not marker.exists()
    store.clock.advance(CLAIM_STALE_S + 1)
    assert survivor.run_requested() == 1 and marker.exists()
    with store.read_incidents() as rows:
        assert [a.state for a in rows.actions()] == [ActionState.SUCCEEDED]


def test_two_managers_on_one_postgresql_open_one_incident_and_run_its_action_once(
    postgres_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    script = f"import time; open({str(marker)!r}, 'a').write('x'); time.sleep(0.2)"
    incidents = spec({"type": "command", "command": [PY, "-c", script]})
    stores = [Store.open(postgres_url, clock=FakeClock()) for _ in range(2)]
    managers = [manager(s, incidents, Alerts(firing())) for s in stores]
    errors: list[BaseException] = []
    together = threading.Barrier(2)

    def rounds(one: IncidentManager) -> None:
        try:
            for _ in range(3):
                one.tick()
                together.wait(timeout=30)  # both look for actions to run at the same moment
                one.run_requested()
        except BaseException as exc:  # asserted in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=rounds, args=(m,)) for m in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        with stores[0].read_incidents() as rows:
            assert len(rows.listing()) == 1
            assert [a.state for a in rows.actions()] == [ActionState.SUCCEEDED]
        assert marker.read_text() == "x"
        assert stores[0].verify_audit().ok
    finally:
        for store in stores:
            store.close()

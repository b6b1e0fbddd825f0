"""An incident's automatic rollback acts on a real rollout.

`safeship run` canaries a bad version (30 % errors) of the demo service behind the embedded
router and then waits at an open `pause: {}` step, so nothing but the incident can end it.
`safeship serve` scrapes the router, a rule fires on the canary's 5xx answers, the alert
opens an incident whose `rollback` action asks the rollout to roll back through the same
request path as `safeship rollback`; the rollout ends rolled back, audited by the incident.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeship.core.incidents import ActionState, EntryKind, Status
from safeship.store import Store
from safeship.testing import free_port

pytestmark = pytest.mark.integration

SPEC = """\
service:
  name: shop
  command: [python, -m, safeship.demo.service, --port, "{{port}}", --version, "{{version}}"]
  stable: v1
  versions:
    bad: {{args: [--error-ratio, "0.3"]}}
fleet: {{replicas: 2, startTimeout: 10s, stopTimeout: 2s}}
router: {{listen: "127.0.0.1:{port}", metricsListen: "127.0.0.1:{metrics}", drainTimeout: 1s}}
strategy:
  canary:
    steps:
      - setWeight: 50
      - pause: {{}}
"""
RULES = """\
groups:
  - name: canary
    interval: 500ms
    rules:
      - alert: CanaryErrors
        expr: sum by (service, version) (safeship_router_requests_total{code=~"5.."}) > 0
        labels: {severity: page}
"""
CONFIG = """\
rule_files: [rules.yml]
scrape_configs:
  - job_name: router
    scrape_interval: 500ms
    scrape_timeout: 400ms
    static_configs: [{{targets: ['127.0.0.1:{metrics}']}}]
incidents:
  interval: 500ms
  definitions:
    - name: canary-errors
      matchers: ['alertname="CanaryErrors"', 'severity="page"']
      severity: critical
      owner: team-shop
      groupBy: [service]
      actions: [{{type: rollback, mode: fast}}]
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], int]]:
    port, metrics = free_port(), free_port()
    (tmp_path / "rollout.yaml").write_text(SPEC.format(port=port, metrics=metrics))
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "safeship.yaml").write_text(CONFIG.format(metrics=metrics))
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{tmp_path}/state.db"}
    argv = [sys.executable, "-m", "safeship.cli", "serve", "-c", "safeship.yaml"]
    serve = subprocess.Popen(
        [*argv, "--listen", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield tmp_path, env, port
    finally:
        serve.terminate()
        serve.wait(timeout=10)


@pytest.fixture
def traffic(world: tuple[Path, dict[str, str], int]) -> Iterator[None]:
    url, stop = f"http://127.0.0.1:{world[2]}/", threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=2) as client:
            while not stop.is_set():
                try:
                    client.get(url)
                except httpx.HTTPError:
                    time.sleep(0.05)  # the router is not up yet, or the run has ended
                time.sleep(0.01)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)


def test_an_alert_on_canary_errors_opens_an_incident_that_rolls_the_rollout_back(
    world: tuple[Path, dict[str, str], int], traffic: None
) -> None:
    folder, env, _ = world
    run = subprocess.run(
        [sys.executable, "-m", "safeship.cli", "run", "rollout.yaml", "--version", "bad"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # rolled back
    with Store.open(env["SAFESHIP_DB"]) as store:
        (rollout,) = store.list_rollouts()
        assert rollout.phase == "RolledBack"
        with store.read_incidents() as rows:
            (incident,) = rows.listing()
            timeline = rows.timeline(incident.id)
            (action,) = rows.actions(incident_id=incident.id)
        by_incident = [e for e in store.audit_entries() if e.actor == incident.actor]
        assert store.verify_audit().ok
    assert (incident.service, incident.severity, incident.status) == (
        "shop",
        "critical",
        Status.OPEN,
    )
    assert (action.key, action.state) == ("0:rollback", ActionState.SUCCEEDED)
    assert f"rollout {rollout.id}" in action.result
    kinds = [e.kind for e in timeline]
    assert kinds[:2] == [EntryKind.OPENED, EntryKind.ACTION_REQUESTED]
    assert EntryKind.ACTION_SUCCEEDED in kinds
    requested = [e for e in by_incident if e.action == "request rollback"]
    assert [(e.rollout_id, e.service) for e in requested] == [(rollout.id, "shop")]
    assert "incident action requested" in [e.action for e in by_incident]
    assert rollout.reason.startswith(f"rolled back by {incident.actor} (incident {incident.id}")

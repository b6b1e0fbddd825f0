"""An incident's `scale` action through a real `safeship serve` and agent: serve brings the
declared service `web` up with 2 replicas on the agent; once its router is scraped up, a
rule fires with `service="web"`, the alert opens an incident whose scale action has the
controller run 3 replicas of the stable version on the agent, all routed, audited."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship.agent.client import AgentClient
from safeship.core.incidents import ActionState
from safeship.store import Store
from safeship.testing import free_port
from tests.integration.agent_kit import wait_for

pytestmark = pytest.mark.integration

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
    - name: web-busy
      matchers: ['alertname="WebBusy"', 'service="web"']
      actions: [{{type: scale, replicas: 3, cooldown: 10m}}]
services:
  - service:
      name: web
      command: [python, -m, safeship.demo.service, --port, "{{port}}", --version, "{{version}}"]
      stable: v1
    fleet: {{replicas: 2, startTimeout: 15s, stopTimeout: 2s}}
    router: {{listen: "127.0.0.1:{router}", metricsListen: "127.0.0.1:{metrics}", drainTimeout: 1s}}
    strategy:
      canary:
        steps:
          - setWeight: 50
"""
RULES = """\
groups:
  - name: web
    interval: 500ms
    rules:
      - alert: WebBusy
        expr: up{job="router"} == 1
        labels: {service: web}
"""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[dict[str, str]]:
    metrics, router = free_port(), free_port()
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "safeship.yaml").write_text(CONFIG.format(metrics=metrics, router=router))
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{tmp_path}/state.db"}
    argv = [sys.executable, "-m", "safeship.cli", "serve", "-c", "safeship.yaml"]
    process = subprocess.Popen(
        [*argv, "--listen", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield env
    finally:
        process.terminate()
        process.wait(timeout=10)


def ready_replicas(home: Path) -> list[str]:
    """The ready replicas of v1 on the agent, when the router sends all traffic to them."""

    async def read() -> list[str]:
        client = AgentClient(home / "agent.sock", timeout=2)
        try:
            view = await client.service("web")
        finally:
            await client.aclose()
        if view is None or view.route is None:
            return []
        ready = sorted(u.id for u in view.replicas if u.version == "v1" and u.state == "ready")
        split = view.route.request.split
        routed = sorted(b.id for b in split.stable)
        return ready if ready == routed and not split.canary else []

    try:
        return asyncio.run(read())
    except Exception:  # the agent is not up yet
        return []


def test_an_incident_scales_a_declared_service_from_2_to_3_replicas_on_the_agent(
    serve: dict[str, str], safeship_home: Path
) -> None:
    wait_for(lambda: len(ready_replicas(safeship_home)) == 2, within=30, what="2 replicas")
    wait_for(lambda: len(ready_replicas(safeship_home)) == 3, within=20, what="3 replicas")
    with Store.open(serve["SAFESHIP_DB"]) as store:
        wait_for(lambda: _finished(store), within=10, what="the scale action finished")
        with store.read_incidents() as rows:
            (incident,) = rows.listing()
            (action,) = rows.actions(incident_id=incident.id)
        audited = [(e.actor, e.action, e.service) for e in store.audit_entries()]
        assert store.verify_audit().ok
    assert (action.key, action.state) == ("0:scale", ActionState.SUCCEEDED), action.result
    assert action.result == "web scaled from 2 to 3 replicas of v1"
    assert (incident.actor, "scale service", "web") in audited


def _finished(store: Store) -> bool:
    with store.read_incidents() as rows:
        actions = [a for i in rows.listing() for a in rows.actions(incident_id=i.id)]
    done = (ActionState.SUCCEEDED, ActionState.FAILED)
    return bool(actions) and all(a.state in done for a in actions)

"""`safeship up` → `deploy` → kill -9 of serve mid-rollout → `up` again → `down`, as a user
runs them: the control plane runs the rollouts of safeship.yaml's services on the agent,
requests through the router never fail while it dies, a restarted serve resumes the
rollout, and `down` leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from safeship.store import Store
from safeship.testing import free_port
from tests.helpers import run_cli
from tests.integration.agent_kit import Load, alive, wait_for

pytestmark = pytest.mark.integration

CONFIG = """\
listen: "127.0.0.1:{api}"
services:
  - service:
      name: web
      command: [python, -m, safeship.demo.service, --port, "{{port}}", --version, "{{version}}"]
      stable: v1
    fleet: {{replicas: 2, startTimeout: 15s, stopTimeout: 2s}}
    router: {{listen: "127.0.0.1:{router}", drainTimeout: 1s}}
    strategy:
      canary:
        steps:
          - setWeight: 50
          - pause: {{duration: {pause}}}
"""


class Machine:
    def __init__(self, workdir: Path, home: Path) -> None:
        self.workdir, self.home = workdir, home
        self.api, self.router = free_port(), free_port()
        self.env = {"SAFESHIP_DB": f"sqlite:///{workdir / 'state.db'}"}

    def cli(self, *args: str, timeout: float = 90) -> tuple[int, str]:
        done = run_cli(self.workdir, *args, env=self.env, timeout=timeout)
        return done.returncode, done.stdout + done.stderr

    def version(self) -> str | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.router}/version", timeout=2).text
        except httpx.HTTPError:
            return None

    def serve_pid(self) -> int:
        return int(json.loads((self.home / "serve.pid").read_text())["pid"])

    def fleet_pids(self) -> list[int]:
        records = json.loads((self.home / "agent" / "observed.json").read_text())["records"]
        return [r["pid"] for r in records.values() if r["pid"]]

    def rollout(self, rollout_id: str) -> dict[str, object]:
        code, out = self.cli("status", rollout_id, "--format", "json")
        assert code == 0, out
        found: dict[str, object] = json.loads(out)[0]
        return found


def test_up_deploy_survive_a_killed_serve_then_down(tmp_path: Path, safeship_home: Path) -> None:
    m = Machine(tmp_path, safeship_home)
    (tmp_path / "safeship.yaml").write_text(CONFIG.format(api=m.api, router=m.router, pause="4s"))
    code, out = m.cli("token", "create", "--name", "ops", "--role", "operator")
    assert code == 0, out
    m.env["SAFESHIP_TOKEN"] = out.strip().splitlines()[-1]
    server = f"http://127.0.0.1:{m.api}"

    code, out = m.cli("up", "-c", "safeship.yaml")
    assert code == 0, out
    first_serve = m.serve_pid()
    assert wait_for(lambda: m.version() == "v1", within=30, what="v1 served on start-up")
    code, out = m.cli("up", "-c", "safeship.yaml")
    assert code == 0 and "already running" in out, out
    assert m.serve_pid() == first_serve

    with Load(f"http://127.0.0.1:{m.router}/", threads=2) as load:
        code, out = m.cli("deploy", "web", "--version", "v2", "--server", server)
        assert code == 0, out
        assert m.version() == "v2"  # deploy has exited; the fleet serves what it shipped

        code, out = m.cli("deploy", "web", "--version", "v3", "--server", server, "--detach")
        assert code == 0, out
        rollout_id = out.split("rollout ", 1)[1].split(":", 1)[0]
        wait_for(lambda: load.versions.get("v3"), within=30, what="canary traffic to v3")
        exported = httpx.get(f"{server}/metrics", timeout=5).text  # the rollout, on serve
        assert f'safeship_rollout_weight{{rollout="{rollout_id}",service="web"}} 50.0' in exported
        os.kill(m.serve_pid(), signal.SIGKILL)
        time.sleep(1.5)  # nobody steers: the agent keeps the 50/50 split
        code, out = m.cli("up", "-c", "safeship.yaml")
        assert code == 0 and "started" in out, out
        wait_for(
            lambda: m.rollout(rollout_id)["phase"] == "Promoted",
            within=60,
            what="the rollout resumed by the new serve",
        )
    assert load.failed == 0, load.failures[:5]
    assert load.ok > 100
    assert m.version() == "v3"
    with Store.open(m.env["SAFESHIP_DB"]) as store:
        actions = [e.action for e in store.audit_entries(rollout_id=rollout_id)]
        assert store.verify_audit().ok
    assert actions.count("resume rollout") >= 2  # picked up after deploy, and after the kill

    pids = [m.serve_pid(), *m.fleet_pids()]
    agent_pid = _agent_pid(safeship_home)
    code, out = m.cli("down")
    assert code == 0, out
    assert not [pid for pid in [*pids, agent_pid] if alive(pid)]
    assert m.version() is None


def _agent_pid(home: Path) -> int:
    transport = httpx.HTTPTransport(uds=str(home / "agent.sock"))
    with httpx.Client(transport=transport, base_url="http://agent") as http:
        pid: int = http.get("/health").json()["pid"]
    return pid

"""POST /api/v1/rollouts (`safeship deploy`) and retry, with the control plane's reconcilers
(wiring/control.py) behind them: a rollout of a service of safeship.yaml is recorded at once,
audited under the token's name, and the controller's loop is what then runs it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safeship.config.loader import load_control_plane
from safeship.core.clock import VirtualClock
from safeship.core.errors import ConfigError, NotLeader
from safeship.store.leadership import Elector
from safeship.store.repository import Store
from safeship.store.tokens import Role
from safeship.wiring.agent_stack import AgentHome
from safeship.wiring.control import Controller
from safeship.wiring.run import begin
from tests.api_kit import api_app, bearer, running_rollout, tokens

CONFIG = """\
services:
  - service: {name: web, command: [python, -m, safeship.demo.service], stable: v1}
    strategy: {canary: {steps: [{setWeight: 50}, {pause: {duration: 1s}}]}}
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict[Role, str]]]:
    (tmp_path / "safeship.yaml").write_text(CONFIG)
    config = load_control_plane(tmp_path / "safeship.yaml")
    clock = VirtualClock(start=1_800_000_000.0)
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as store:
        control = Controller(config, store=store, clock=clock, home=AgentHome(tmp_path))
        with TestClient(api_app(store, clock=clock, control=control)) as client:
            yield client, store, tokens(store)


def test_deploy_records_a_progressing_rollout_audited_under_the_token(
    world: tuple[TestClient, Store, dict[Role, str]],
) -> None:
    client, store, issued = world
    body = {"service": "web", "version": "v2"}
    answer = client.post("/api/v1/rollouts", json=body, headers=bearer(issued[Role.operator]))
    assert answer.status_code == 202, answer.text
    rollout = answer.json()
    assert (rollout["from_version"], rollout["to_version"]) == ("v1", "v2")
    assert rollout["phase"] == "Progressing" and rollout["actor"] == "operator"
    assert store.active_rollout("web").id == rollout["id"]  # type: ignore[union-attr]
    actions = [(e.actor, e.action) for e in store.audit_entries(rollout_id=rollout["id"])]
    assert ("operator", "start rollout v1 → v2") in actions
    assert store.verify_audit().ok
    again = client.post("/api/v1/rollouts", json=body, headers=bearer(issued[Role.operator]))
    assert again.json()["id"] == rollout["id"]  # the same version again: the same rollout


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"service": "nope", "version": "v2"}, 404),
        ({"service": "web", "version": "v1"}, 409),  # already runs it
        ({"service": "web", "version": "bad version"}, 422),
    ],
)
def test_deploy_refuses_what_cannot_run(
    world: tuple[TestClient, Store, dict[Role, str]], body: dict[str, str], status: int
) -> None:
    client, store, issued = world
    answer = client.post("/api/v1/rollouts", json=body, headers=bearer(issued[Role.operator]))
    assert answer.status_code == status, answer.text
    assert store.active_rollout("web") is None


def test_a_second_version_while_one_runs_is_a_conflict(
    world: tuple[TestClient, Store, dict[Role, str]],
) -> None:
    client, _, issued = world
    headers = bearer(issued[Role.operator])
    client.post("/api/v1/rollouts", json={"service": "web", "version": "v2"}, headers=headers)
    answer = client.post(
        "/api/v1/rollouts", json={"service": "web", "version": "v3"}, headers=headers
    )
    assert answer.status_code == 409 and "unfinished" in answer.json()["error"]


def test_services_lists_the_configured_ones_with_their_rollout(
    world: tuple[TestClient, Store, dict[Role, str]],
) -> None:
    client, _, issued = world
    headers = bearer(issued[Role.operator])
    started = client.post(
        "/api/v1/rollouts", json={"service": "web", "version": "v2"}, headers=headers
    )
    (web,) = client.get("/api/v1/services", headers=bearer(issued[Role.viewer])).json()
    assert web == {
        "name": "web",
        "strategy": "canary",
        "replicas": 2,
        "stable_version": "v1",
        "active_rollout": started.json()["id"],
    }


def test_services_in_safeship_yaml_have_unique_names_and_located_errors(tmp_path: Path) -> None:
    path = tmp_path / "safeship.yaml"
    path.write_text(CONFIG + CONFIG.split("\n", 1)[1])
    with pytest.raises(ConfigError, match="unique service names"):
        load_control_plane(path)
    path.write_text(CONFIG.replace("setWeight: 50", "setWeight: half"))
    with pytest.raises(ConfigError, match=r"safeship.yaml:3: .*services\[0\]\.strategy"):
        load_control_plane(path)


def test_retry_of_a_rolled_back_rollout_starts_a_new_one_the_controller_runs(
    world: tuple[TestClient, Store, dict[Role, str]],
) -> None:
    client, store, issued = world
    running = running_rollout("web-old", now=1_799_999_000.0)
    store.save_rollout(
        dataclasses.replace(
            running, phase="RolledBack", result="rolled_back", finished_at=1_799_999_100.0
        )
    )
    answer = client.post("/api/v1/rollouts/web-old/retry", headers=bearer(issued[Role.operator]))
    assert answer.status_code == 202, answer.text
    assert answer.json()["id"] != "web-old" and answer.json()["to_version"] == "v2"
    assert store.active_rollout("web").id == answer.json()["id"]  # type: ignore[union-attr]
    audited = [(e.actor, e.action) for e in store.audit_entries(rollout_id="web-old")]
    assert ("operator", "retry rollout") in audited


def test_the_example_safeship_yaml_declares_the_demo_service() -> None:
    config = load_control_plane(Path(__file__).parents[2] / "examples" / "safeship.yaml")
    assert [s.service.name for s in config.services] == ["shop"]


def test_a_service_of_safeship_yaml_needs_the_embedded_router(tmp_path: Path) -> None:
    path = tmp_path / "safeship.yaml"
    rolling = "strategy: {rolling: {maxUnavailable: 1}}"
    text = CONFIG.replace(
        "strategy: {canary: {steps: [{setWeight: 50}, {pause: {duration: 1s}}]}}", rolling
    )
    path.write_text(text.replace("    strategy:", "    router: {kind: none}\n    strategy:"))
    with pytest.raises(ConfigError, match="router kind embedded"):
        load_control_plane(path)


def test_a_follower_drives_no_rollout_and_starts_no_agent(tmp_path: Path) -> None:
    """Only the leader acts: an elector that does not lead keeps the loop idle, though a
    rollout waits to be driven (on the virtual clock the loop turns many times)."""
    (tmp_path / "safeship.yaml").write_text(CONFIG)
    config = load_control_plane(tmp_path / "safeship.yaml")
    clock = VirtualClock(start=1_800_000_000.0)
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as store:
        home = AgentHome(tmp_path / "home")
        follower = Elector(store, name="control-plane")  # never claimed: not leading
        control = Controller(config, store=store, clock=clock, home=home, elector=follower)
        with pytest.raises(NotLeader):
            control.deploy("web", "v2", actor="ops")  # a follower records no rollout either
        begin(config.services[0], store, version="v2", actor="ops", clock=clock)

        async def turn() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(control.run(), timeout=0.3)

        asyncio.run(turn())
        assert clock.now() > 1_800_000_100  # the loop ran, idle
        assert not home.socket.exists() and not control.views()
        record = store.active_rollout("web")
        assert record is not None and record.status["step_index"] == 0

"""The CLI with `--server` against a real `safeship serve`: gates, status and the audit log go
through /api/v1 with the token's name as the actor; tokens come from the environment or a
private file; refusals exit with the codes they have on the store directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeship.store.repository import Store
from safeship.testing import free_port
from tests.api_kit import running_rollout
from tests.helpers import run_cli
from tests.integration.test_serve_control_plane import wait_for

pytestmark = pytest.mark.integration


@dataclass
class Plane:
    url: str
    db: str
    folder: Path
    operator: str  # a token named "ops"
    viewer: str  # a token named "watcher"

    def cli(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"SAFESHIP_SERVER": self.url, "SAFESHIP_DB": "sqlite:////nonexistent/unused.db"}
        if token is not None:
            env["SAFESHIP_TOKEN"] = token
        return run_cli(self.folder, *args, env=env)


def make_token(folder: Path, db: str, name: str, role: str) -> str:
    made = run_cli(
        folder, "token", "create", "--name", name, "--role", role, env={"SAFESHIP_DB": db}
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    folder = tmp_path_factory.mktemp("plane")
    db = f"sqlite:///{folder / 'state.db'}"
    with Store.open(db) as store:
        store.save_rollout(running_rollout("web-1"))
    operator, viewer = (
        make_token(folder, db, "ops", "operator"),
        make_token(folder, db, "watcher", "viewer"),
    )
    listen = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "safeship.cli", "serve", "--listen", listen]
    env = {**os.environ, "SAFESHIP_DB": db}
    process = subprocess.Popen(argv, cwd=folder, env=env, stderr=subprocess.PIPE)
    try:
        wait_for(f"http://{listen}/health/liveness", process)
        yield Plane(f"http://{listen}", db, folder, operator, viewer)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_pause_through_the_server_is_audited_under_the_token_name(plane: Plane) -> None:
    paused = plane.cli("pause", "web-1", "--reason", "p99 looks odd", token=plane.operator)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert "pause requested for web-1" in paused.stdout
    with Store.open(plane.db) as store:
        [request] = store.pending_requests("web-1")
    assert (request.kind, request.actor, request.reason) == ("pause", "ops", "p99 looks odd")
    listed = plane.cli(
        "audit", "list", "--rollout", "web-1", "--format", "json", token=plane.viewer
    )
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)["audit"]
    assert (entry["actor"], entry["action"]) == ("ops", "request pause")


def test_status_reads_through_the_server(plane: Plane) -> None:
    shown = plane.cli("status", "web-1", "--format", "json", token=plane.viewer)
    assert shown.returncode == 0, shown.stderr
    [status] = json.loads(shown.stdout)
    assert (status["rollout_id"], status["canary_weight"]) == ("web-1", 20.0)
    table = plane.cli("status", token=plane.viewer)
    assert table.returncode == 0 and "web-1" in table.stdout


@pytest.mark.parametrize(
    ("args", "role", "code", "says"),
    [
        (("pause", "web-1"), "viewer", 2, "this needs operator"),
        (("pause", "nope"), "operator", 2, "no rollout nope"),
        (("promote", "web-1"), None, 2, "no API token"),
    ],
)
def test_refusals_exit_as_on_the_store(
    plane: Plane, args: tuple[str, ...], role: str | None, code: int, says: str
) -> None:
    token = {"viewer": plane.viewer, "operator": plane.operator, None: None}[role]
    result = plane.cli(*args, token=token)
    assert result.returncode == code
    assert says in result.stdout + result.stderr


def test_an_unreachable_server_exits_3(plane: Plane) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    env = {"SAFESHIP_SERVER": down, "SAFESHIP_TOKEN": plane.operator}
    result = run_cli(plane.folder, "resume", "web-1", env=env)
    assert result.returncode == 3
    assert "cannot reach the control plane" in result.stdout + result.stderr


def test_a_token_file_others_can_read_is_refused(plane: Plane, tmp_path: Path) -> None:
    token_file = tmp_path / ".safeship" / "token"
    token_file.parent.mkdir()
    token_file.write_text(plane.viewer + "\n")
    token_file.chmod(0o644)
    env = {"SAFESHIP_SERVER": plane.url, "HOME": str(tmp_path)}
    refused = run_cli(tmp_path, "status", "web-1", env=env)
    assert refused.returncode == 2
    assert "chmod 600" in refused.stdout + refused.stderr
    token_file.chmod(0o600)
    assert run_cli(tmp_path, "status", "web-1", env=env).returncode == 0

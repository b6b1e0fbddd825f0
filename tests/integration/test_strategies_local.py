"""Every strategy end to end with `safeship run`: the documented example specs, real replicas
on the local provider, the embedded router under real client traffic, SQLite in tmp_path.

Each strategy: a good version is promoted; a bad one is rolled back on its own; and a person
can abort it midway (tests/integration/test_gates_local.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from safeship.store import Store
from safeship.testing import free_port

EXAMPLES = Path(__file__).parents[2] / "examples"


@dataclass
class Workdir:
    path: Path
    port: int
    spec: Path
    sent: dict[str, int] = field(default_factory=lambda: {"ok": 0, "errors": 0})

    @property
    def db(self) -> str:
        return f"sqlite:///{self.path}/state.db"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SAFESHIP_DB": self.db}

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "safeship.cli", *args],
            cwd=self.path,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, version: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "safeship.cli", "run", str(self.spec), "--version", version],
            cwd=self.path,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def rollouts(self) -> list[dict[str, object]]:
        result = self.cli("status", "--format", "json")
        return list(json.loads(result.stdout)) if result.returncode == 0 else []


def workdir_for(tmp_path: Path, example: str) -> Workdir:
    port = free_port()
    text = (EXAMPLES / example).read_text()
    spec = tmp_path / example
    spec.write_text(re.sub(r"listen: 127\.0\.0\.1:\d+", f"listen: 127.0.0.1:{port}", text))
    return Workdir(tmp_path, port, spec)


@pytest.fixture
def traffic_to() -> Iterator[list[Workdir]]:
    """Steady client traffic through each registered workdir's router (the judges need it)."""
    targets: list[Workdir] = []
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=2) as client:
            while not stop.is_set():
                for wd in list(targets):
                    try:
                        code = client.get(f"http://127.0.0.1:{wd.port}/").status_code
                        wd.sent["ok" if code < 500 else "errors"] += 1
                    except httpx.HTTPError:
                        time.sleep(0.05)
                time.sleep(0.01)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield targets
    stop.set()
    thread.join(timeout=5)


def run(wd: Workdir, version: str) -> tuple[int, dict[str, object], str]:
    result = wd.cli("run", str(wd.spec), "--version", version, timeout=90)
    latest = wd.rollouts()[0]
    return result.returncode, latest, result.stdout + result.stderr


CASES = {
    "rolling.yaml": ("shop", "v3", "failed to start"),
    "waves.yaml": ("mesh", "v3", "analysis failed"),
    "traffic-split.yaml": ("api", "v3", "analysis failed"),
    "blue-green.yaml": ("store", "v3", "analysis failed"),
}


@pytest.mark.parametrize("example", list(CASES))
def test_good_version_is_promoted(tmp_path: Path, example: str, traffic_to: list[Workdir]) -> None:
    wd = workdir_for(tmp_path, example)
    traffic_to.append(wd)
    code, latest, output = run(wd, "v2")
    assert code == 0, output
    assert latest["phase"] == "Promoted"
    service = CASES[example][0]
    with Store.open(wd.db) as store:
        assert store.stable_version(service) == "v2"
        assert store.verify_audit().ok
    assert wd.sent["errors"] == 0, wd.sent
    detailed = json.loads(wd.cli("status", "--detailed", "--format", "json").stdout)[0]
    assert (detailed["migration"]["progress"], detailed["migration"]["stage"]) == (1.0, "completed")
    record = json.loads(wd.cli("audit", "list", "--format", "json").stdout)["rollouts"][0]
    strategy = example.removesuffix(".yaml")
    assert record["strategy"] == {"traffic-split": "trafficSplit", "blue-green": "blueGreen"}.get(
        strategy, strategy
    )
    assert (record["from_version"], record["to_version"], record["result"]) == (
        "v1",
        "v2",
        "promoted",
    )
    assert record["actor"] and record["reason"] == "all steps passed"


@pytest.mark.parametrize("example", list(CASES))
def test_bad_version_is_rolled_back_automatically(
    tmp_path: Path, example: str, traffic_to: list[Workdir]
) -> None:
    wd = workdir_for(tmp_path, example)
    traffic_to.append(wd)
    service, bad, why = CASES[example]
    code, latest, output = run(wd, bad)
    assert code == 1, output
    assert latest["phase"] == "RolledBack"
    assert why in str(latest["message"])
    with Store.open(wd.db) as store:
        assert store.stable_version(service) is None  # v1 stays the stable version
    assert wd.sent["ok"] > 0


def test_rolling_failure_rolls_back_done_batches_newest_first(
    tmp_path: Path, traffic_to: list[Workdir]
) -> None:
    wd = workdir_for(tmp_path, "rolling.yaml")
    wd.spec.write_text(
        wd.spec.read_text().replace(
            'v4: {args: [--error-ratio, "0.5"]}', 'v4: {args: [--error-ratio, "0.6"]}'
        )
    )
    traffic_to.append(wd)
    code, latest, output = run(wd, "v4")
    assert code == 1, output
    with Store.open(wd.db) as store:
        actions = [e.action for e in store.audit_entries(rollout_id=str(latest["rollout_id"]))]
    to_v4 = [a for a in actions if a.startswith("deploy v4 to")]
    back = [a for a in actions if a.startswith("deploy v1 to")]
    assert to_v4[:2] == ["deploy v4 to shop-0", "deploy v4 to shop-1"]
    assert back and back[0] in ("deploy v1 to shop-1", "deploy v1 to shop-0")

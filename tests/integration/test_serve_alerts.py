"""`safeship serve` with rule_files as a real process: an alert on a scraped demo replica
fires and shows on /prometheus/api/v1/alerts and /rules; its state is in the state database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from safeship.testing import free_port, start_demo_replica

pytestmark = pytest.mark.integration
SAFESHIP = Path(sys.executable).parent / "safeship"
RULES = """\
groups:
  - name: demo
    interval: 500ms
    rules:
      - alert: DemoUp
        expr: up{job="demo"} == 1
        for: 0s
        labels: {severity: info}
        annotations: {summary: "{{ $labels.instance }} is up"}
"""


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    replica_process, replica = start_demo_replica("v1")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "demo.yml").write_text(RULES)
    config = tmp_path / "safeship.yaml"
    config.write_text(
        "rule_files: ['rules/*.yml']\n"
        "scrape_configs:\n"
        "  - job_name: demo\n"
        "    scrape_interval: 500ms\n"
        "    scrape_timeout: 400ms\n"
        "    static_configs:\n"
        f"      - targets: ['{replica.host}:{replica.port}']\n"
    )
    listen = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{tmp_path}/state.db"}
    argv = [str(SAFESHIP), "serve", "-c", str(config), "--listen", listen]
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        yield f"http://{listen}", tmp_path / "state.db"
    finally:
        process.terminate()
        process.wait(timeout=10)
        replica_process.kill()
        replica_process.wait()


def _firing(base: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            alerts = httpx.get(f"{base}/prometheus/api/v1/alerts", timeout=1).json()
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        found = [a for a in alerts["data"]["alerts"] if a["state"] == "firing"]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no alert fired on {base} within 15 s")


def test_an_alert_on_a_scraped_replica_fires(control_plane: tuple[str, Path]) -> None:
    base, database = control_plane
    (alert,) = _firing(base)
    assert alert["labels"]["alertname"] == "DemoUp" and alert["labels"]["job"] == "demo"
    assert alert["annotations"]["summary"] == f"{alert['labels']['instance']} is up"
    assert alert["value"] == "1e+00"
    (group,) = httpx.get(f"{base}/prometheus/api/v1/rules").json()["data"]["groups"]
    (rule,) = group["rules"]
    assert (rule["state"], rule["health"], rule["type"]) == ("firing", "ok", "alerting")
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT rule_name, state FROM alert_state")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("DemoUp", "firing")]


def test_a_broken_rule_file_exits_2_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'up =='\n"
    )
    config = tmp_path / "safeship.yaml"
    config.write_text("rule_files: [bad.yml, missing.yml]\n")
    done = subprocess.run(
        [str(SAFESHIP), "serve", "-c", str(config)], capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert b"missing.yml" in done.stdout + done.stderr
    config.write_text("rule_files: [bad.yml]\n")
    done = subprocess.run(
        [str(SAFESHIP), "serve", "-c", str(config)], capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert b"bad.yml:5" in done.stdout + done.stderr

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
        "default_rules: false\n"  # only the rule under test
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


DOWN_RULES = """\
groups:
  - name: targets
    interval: 500ms
    rules:
      - alert: TargetDown
        expr: up == 0
        for: 4s
"""


def _start_serve(folder: Path, listen: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{folder}/state.db"}
    argv = [str(SAFESHIP), "serve", "-c", str(folder / "safeship.yaml"), "--listen", listen]
    return subprocess.Popen(argv, env=env, cwd=folder, stderr=subprocess.DEVNULL)


@pytest.fixture
def serve_folder(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """A safeship.yaml whose one target never answers (`up` 0) and whose WAL syncs every
    100ms; the test starts and kills `safeship serve` in it, the fixture cleans up."""
    replica_process, replica = start_demo_replica("v1")
    (tmp_path / "down.yml").write_text(DOWN_RULES)
    (tmp_path / "safeship.yaml").write_text(
        "rule_files: [down.yml]\n"
        "default_rules: false\n"  # the defaults' own SafeshipTargetDown would fire too
        "metrics: {source: {embedded: {wal: {fsync: 100ms}}}}\n"
        "scrape_configs:\n"
        "  - job_name: gone\n"
        "    scrape_interval: 500ms\n"
        "    scrape_timeout: 200ms\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{free_port()}']}}]\n"
        "  - job_name: demo\n"
        "    scrape_interval: 100ms\n"
        "    scrape_timeout: 90ms\n"
        f"    static_configs: [{{targets: ['{replica.host}:{replica.port}']}}]\n"
    )
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield tmp_path, started
    finally:
        for process in started:
            process.kill()
            process.wait()
        replica_process.kill()
        replica_process.wait()


def _alerts(base: str) -> list[dict[str, Any]] | None:
    try:
        found: list[dict[str, Any]] = httpx.get(f"{base}/prometheus/api/v1/alerts").json()["data"][
            "alerts"
        ]
    except httpx.TransportError:
        return None
    return found


def test_a_firing_alert_is_still_firing_with_its_active_at_after_a_kill_9(
    serve_folder: tuple[Path, list[subprocess.Popen[bytes]]],
) -> None:
    folder, started = serve_folder
    listen = f"127.0.0.1:{free_port()}"
    started.append(_start_serve(folder, listen))
    (before,) = _firing(f"http://{listen}")
    started[0].kill()  # SIGKILL: no shutdown, no last write
    started[0].wait()

    started.append(_start_serve(folder, listen))
    seen: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(seen) < 30:  # 3s: six evaluations
        alerts = _alerts(f"http://{listen}")
        if alerts is not None:
            seen.append(alerts)
        time.sleep(0.1)
    assert len(seen) == 30
    for alerts in seen:
        assert [(a["labels"]["alertname"], a["state"], a["activeAt"]) for a in alerts] == [
            ("TargetDown", "firing", before["activeAt"])
        ]


def _up_samples(base: str, at: float) -> set[tuple[str, float]]:
    params = {"query": 'up{job="demo"}[1h]', "time": f"{at:.3f}"}
    answer = httpx.get(f"{base}/prometheus/api/v1/query", params=params).json()
    return {(v, t) for series in answer["data"]["result"] for t, v in series["values"]}


def test_no_acknowledged_sample_is_lost_when_serve_is_killed_during_ingest(
    serve_folder: tuple[Path, list[subprocess.Popen[bytes]]],
) -> None:
    folder, started = serve_folder
    listen = f"127.0.0.1:{free_port()}"
    base = f"http://{listen}"
    started.append(_start_serve(folder, listen))
    _firing(base)  # scraping and evaluating for a few seconds
    at = time.time()
    acknowledged = _up_samples(base, at)
    time.sleep(0.3)  # three fsync intervals: everything seen is on disk
    started[0].kill()
    started[0].wait()

    started.append(_start_serve(folder, listen))
    deadline = time.monotonic() + 15
    while _alerts(base) is None:
        assert time.monotonic() < deadline, "never answered after the restart"
        time.sleep(0.1)
    assert len(acknowledged) > 20
    assert acknowledged <= _up_samples(base, at)
    exposed = httpx.get(f"{base}/metrics").text
    for name in ("safeship_wal_size_bytes", "safeship_wal_replay_duration_seconds"):
        assert f"\n{name} " in exposed
    assert "safeship_wal_fsync_duration_seconds_count" in exposed

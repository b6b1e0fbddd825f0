"""`safeship serve` as a real process: scrapes a demo replica per safeship.yaml and answers
PromQL on the Prometheus-compatible API, plus health, its own /metrics and `safeship query`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeship.testing import free_port

pytestmark = pytest.mark.integration
SAFESHIP = Path(sys.executable).parent / "safeship"


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture(scope="module")
def replica() -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "safeship.demo.service", "--port", str(port), "--version", "v1"]
    process = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        httpx.get(f"http://127.0.0.1:{port}/")  # one request, so demo_requests_total has a code
        yield f"127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def control_plane(replica: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = tmp_path_factory.mktemp("serve") / "safeship.yaml"
    config.write_text(
        "scrape_configs:\n"
        "  - job_name: demo\n"
        "    scrape_interval: 500ms\n"
        "    scrape_timeout: 400ms\n"
        "    static_configs:\n"
        f"      - targets: ['{replica}']\n"
        "        labels: {team: shop}\n"
    )
    listen = f"127.0.0.1:{free_port()}"
    argv = [str(SAFESHIP), "serve", "-c", str(config)]
    process = subprocess.Popen([*argv, "--listen", listen], stderr=subprocess.PIPE)
    try:
        wait_for(f"http://{listen}/health/liveness", process)
        yield f"http://{listen}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def query(base: str, expr: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while True:
        body: dict[str, object] = httpx.get(
            f"{base}/prometheus/api/v1/query", params={"query": expr}
        ).json()
        data = body["data"]
        assert isinstance(data, dict)
        if data["result"] or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_serve_scrapes_and_answers_prometheus_shaped_json(control_plane: str) -> None:
    up = query(control_plane, 'up{job="demo"}')
    assert up["status"] == "success"
    data = up["data"]
    assert isinstance(data, dict) and data["resultType"] == "vector"
    (sample,) = data["result"]
    assert sample["metric"] == {
        "__name__": "up",
        "instance": sample["metric"]["instance"],
        "job": "demo",
        "team": "shop",
    }
    timestamp, value = sample["value"]
    assert isinstance(timestamp, float) and value == "1"
    requests = query(control_plane, 'demo_requests_total{code="200"}')
    (series,) = requests["data"]["result"]  # type: ignore[index]
    assert series["metric"]["job"] == "demo" and float(series["value"][1]) >= 1


def test_health_and_own_metrics(control_plane: str) -> None:
    assert httpx.get(f"{control_plane}/health/readiness").json() == {"status": "ok"}
    metrics = httpx.get(f"{control_plane}/metrics")
    assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]
    assert "process_resident_memory_bytes" in metrics.text
    # safeship scrapes itself too, like any other target
    own = query(control_plane, 'up{job="safeship"}')
    assert own["data"]["result"][0]["value"][1] == "1"  # type: ignore[index]


def test_safeship_query_cli_reads_the_control_plane(control_plane: str) -> None:
    query(control_plane, 'up{job="demo"}')
    argv = [str(SAFESHIP), "query", 'up{job="demo"}']
    done = subprocess.run(
        [*argv, "--url", control_plane, "--format", "json"], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["data"]["result"][0]["metric"]["job"] == "demo"


def test_a_bad_config_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text("scrape_configs:\n  - job_name: a\n    scrape_interval: nope\n")
    argv = [str(SAFESHIP), "serve", "-c", str(config)]
    done = subprocess.run(argv, capture_output=True, timeout=30)
    assert done.returncode == 2
    assert b"scrape_interval" in done.stdout + done.stderr


def readiness_until(base: str, status: int, *, within: float = 15) -> dict[str, object]:
    """The readiness answer once it has `status` (fails after `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        answer = httpx.get(f"{base}/health/readiness", timeout=5)
        if answer.status_code == status:
            body: dict[str, object] = answer.json()
            return body
        assert time.monotonic() < deadline, f"readiness stayed {answer.status_code}: {answer.text}"
        time.sleep(0.2)


def test_readiness_fails_while_the_state_database_is_gone_and_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    listen = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{folder}/state.db"}
    process = subprocess.Popen(
        [str(SAFESHIP), "serve", "--listen", listen], env=env, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(f"http://{listen}/health/liveness", process)
        assert readiness_until(f"http://{listen}", 200) == {"status": "ok"}
        shutil.rmtree(folder)
        body = readiness_until(f"http://{listen}", 503)
        assert body["status"] == "not ready"
        assert body["reasons"] == ["state database unreachable: unable to open database file"]
        folder.mkdir()
        assert readiness_until(f"http://{listen}", 200) == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)

"""Remote write both ways against Debian's real Prometheus (2.42).

In: Prometheus scrapes itself and remote-writes to `safeship serve` at /api/v1/write with an
`ingest` token; its series are then answered by safeship's PromQL API.
"""

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

from safeship.testing import free_port

pytestmark = pytest.mark.integration
SAFESHIP = Path(sys.executable).parent / "safeship"
PROMETHEUS = "/usr/bin/prometheus"


def wait_for(url: str, process: subprocess.Popen[bytes], *, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def query(base: str, expr: str, *, within: float = 20) -> list[dict[str, Any]]:
    """The instant vector of `expr` once it is not empty."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=2).json()
        if answer["status"] == "success" and answer["data"]["result"]:
            return list(answer["data"]["result"])
        time.sleep(0.2)
    raise AssertionError(f"{expr} stayed empty at {base}")


def start(argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **options)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """safeship serve (no scraping of its own but itself) and its environment."""
    (tmp_path / "safeship.yaml").write_text("self_scrape_interval: 1h\n")
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{tmp_path}/state.db"}
    listen = f"127.0.0.1:{free_port()}"
    argv = [str(SAFESHIP), "serve", "-c", "safeship.yaml", "--listen", listen]
    process = start(argv, env=env, cwd=tmp_path)
    try:
        wait_for(f"http://{listen}/health/readiness", process)
        yield f"http://{listen}", env
    finally:
        stop(process)


def token(env: dict[str, str], role: str) -> str:
    argv = [str(SAFESHIP), "token", "create", "--name", f"prom-{role}", "--role", role]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()[-1]


def prometheus(tmp_path: Path, config: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(config.replace("SELF", f"127.0.0.1:{port}"))
    argv = [
        PROMETHEUS,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *extra,
    ]
    process = start(argv)
    wait_for(f"http://127.0.0.1:{port}/-/ready", process)
    return process, f"http://127.0.0.1:{port}"


def test_prometheus_remote_writes_into_safeship(
    serve: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = serve
    (tmp_path / "token").write_text(token(env, "ingest"))
    viewer = token(env, "viewer")
    config = f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: [SELF]}}]
remote_write:
  - url: {base}/api/v1/write
    authorization: {{credentials_file: {tmp_path / "token"}}}
    queue_config: {{batch_send_deadline: 1s}}
"""
    process, _ = prometheus(tmp_path, config)
    try:
        (up,) = query(f"{base}/prometheus", 'up{job="prometheus"}')
        assert up["value"][1] == "1"
        built = query(f"{base}/prometheus", "prometheus_build_info")
        assert built[0]["metric"]["version"].startswith("2.42")
        # Writing needs the ingest role: a viewer's token is refused, no token is asked for one.
        write = f"{base}/api/v1/write"
        refused = httpx.post(write, content=b"", headers={"Authorization": f"Bearer {viewer}"})
        assert refused.status_code == 403
        assert httpx.post(write, content=b"").status_code == 401
    finally:
        stop(process)


def test_serve_remote_writes_to_prometheus_and_resumes_after_a_kill(tmp_path: Path) -> None:
    """serve scrapes itself while the receiver is down and is killed (-9); started again with
    the receiver up, it sends what it logged before the kill, from its WAL."""
    prometheus_port = free_port()
    receiver = f"http://127.0.0.1:{prometheus_port}"
    (tmp_path / "safeship.yaml").write_text(
        "self_scrape_interval: 500ms\n"
        "remote_write:\n"
        f"  - url: {receiver}/api/v1/write\n"
        "    queue_config: {batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 200ms}\n"
    )
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{tmp_path}/state.db"}
    listen = f"127.0.0.1:{free_port()}"
    argv = [str(SAFESHIP), "serve", "-c", "safeship.yaml", "--listen", listen]
    first = start(argv, env=env, cwd=tmp_path)
    wait_for(f"http://{listen}/health/readiness", first)
    started = time.time()
    time.sleep(3)  # about six self-scrapes, logged while nothing receives them
    first.kill()
    first.wait()
    killed = time.time()

    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")
    argv_prometheus = [
        PROMETHEUS,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
        "--web.enable-remote-write-receiver",
    ]
    prometheus_process = start(argv_prometheus)
    second = start(argv, env=env, cwd=tmp_path)
    try:
        wait_for(f"{receiver}/-/ready", prometheus_process)
        window = f"{int(killed - started) + 1}s"
        expr = f'count_over_time(up{{job="safeship"}}[{window}])'
        deadline = time.monotonic() + 20
        count = 0
        while time.monotonic() < deadline and count < 4:
            answer = httpx.get(
                f"{receiver}/api/v1/query", params={"query": expr, "time": killed}, timeout=2
            ).json()
            found = answer["data"]["result"]
            count = int(found[0]["value"][1]) if found else 0
            time.sleep(0.3)
        assert count >= 4, f"only {count} samples from before the kill reached Prometheus"
        (up,) = query(receiver, 'up{job="safeship"}')  # and it goes on sending new ones
        assert up["value"][1] == "1"
    finally:
        stop(second)
        stop(prometheus_process)

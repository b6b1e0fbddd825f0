"""`safeship serve` with `alertmanager_config`, as a real process: alerts its rules fire on a
scraped target reach a loopback webhook through routing, grouping, inhibition, silences,
repeat and resolve notifications; SIGKILLed with notifications queued while the receiver
answers 503, restarted, every group's notifications arrive (once each after de-dup on
X-Safeship-Notification-Id) and a new alert after the restart is not swallowed.

The target is a tiny HTTP server whose /metrics the test rewrites: flipping a sample makes
the rule fire or resolve on the next evaluation (every 300 ms).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from safeship.testing import free_port
from tests.integration.webhook_kit import Hook, Received, hook_server

pytestmark = pytest.mark.integration
SAFESHIP = Path(sys.executable).parent / "safeship"
RULES = """\
groups:
  - name: notify
    interval: 300ms
    rules:
      - alert: HighErrors
        expr: errors > 0
        labels: {severity: warning}
      - alert: ServiceDown
        expr: down > 0
        labels: {severity: critical}
      - alert: ServiceSlow
        expr: down > 0
        labels: {severity: warning}
      - alert: Noisy
        expr: noisy > 0
"""
ROUTES = """\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 500ms
  group_interval: 500ms
  repeat_interval: 1h
  routes:
    - matchers: ['alertname="HighErrors"']
      repeat_interval: 2s
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [svc]
receivers:
  - name: hook
    webhook_configs:
      - url: {url}/hook
        timeout: 1s
"""


@dataclass
class Target:
    """A scrape target whose samples the test sets."""

    samples: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, series: str, value: float) -> None:
        with self.lock:
            self.samples[series] = value

    def body(self) -> bytes:
        with self.lock:
            return "".join(f"{s} {v}\n" for s, v in self.samples.items()).encode()


@pytest.fixture
def target() -> Iterator[tuple[Target, str]]:
    found = Target()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = found.body()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield found, f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Serve:
    def __init__(self, folder: Path, target: str, hook: Hook, db: str | None = None) -> None:
        (folder / "rules.yml").write_text(RULES)
        (folder / "alertmanager.yml").write_text(ROUTES.replace("{url}", hook.url))
        self.config = folder / "safeship.yaml"
        self.config.write_text(
            "rule_files: [rules.yml]\n"
            "default_rules: false\n"
            "alertmanager_config: alertmanager.yml\n"
            "scrape_configs:\n"
            "  - job_name: app\n"
            "    scrape_interval: 200ms\n"
            "    scrape_timeout: 150ms\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.folder = folder
        self.env = {**os.environ, "SAFESHIP_DB": db or f"sqlite:///{folder}/state.db"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        listen = f"127.0.0.1:{free_port()}"
        argv = [str(SAFESHIP), "serve", "-c", str(self.config), "--listen", listen]
        with (self.folder / "serve.log").open("ab") as out:
            self.process = subprocess.Popen(argv, env=self.env, cwd=self.folder, stderr=out)

    def silence(self, matcher: str) -> None:
        argv = [str(SAFESHIP), "silences", "add", "-m", matcher, "--duration", "1h"]
        argv += ["--comment", "maintenance"]
        subprocess.run(argv, env=self.env, cwd=self.folder, check=True, capture_output=True)

    def pending(self, *, wanted: dict[str, int], timeout: float = 15) -> set[str]:
        """The ids of the outbox's pending notifications, once it holds as many of each
        group (`wanted`: alertname -> count) as wanted."""
        engine = sa.create_engine(self.env["SAFESHIP_DB"])
        query = "SELECT group_key, notification_id FROM notification_outbox WHERE status='pending'"
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    rows = conn.execute(sa.text(query)).all()
                if all(sum(name in key for key, _ in rows) >= n for name, n in wanted.items()):
                    return {notification_id for _, notification_id in rows}
                time.sleep(0.1)
        finally:
            engine.dispose()
        raise AssertionError(f"the outbox holds {rows}, expected {wanted}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=10)


@pytest.fixture
def hook() -> Iterator[Hook]:
    with hook_server() as running:
        yield running


@pytest.fixture
def serve(tmp_path: Path, target: tuple[Target, str], hook: Hook) -> Iterator[Serve]:
    running = Serve(tmp_path, target[1], hook)
    yield running
    running.stop(signal.SIGKILL)


def alertnames(received: Received) -> list[str]:
    return [a["labels"]["alertname"] for a in received.json()["alerts"]]


def of(received: list[Received], alertname: str) -> list[dict[str, Any]]:
    """The payloads of `alertname`'s group the receiver took (2xx), de-duplicated by id."""
    seen: dict[str, dict[str, Any]] = {}
    for r in received:
        if r.answered is None or not 200 <= r.answered < 300:
            continue
        if r.json()["groupLabels"].get("alertname") == alertname:
            seen.setdefault(r.notification_id, r.json())
    return list(seen.values())


def test_grouping_inhibition_silence_repeat_and_resolve(
    serve: Serve, target: tuple[Target, str], hook: Hook
) -> None:
    metrics, _ = target
    metrics.set('errors{svc="a"}', 0)
    serve.silence('alertname="Noisy"')
    serve.start()
    metrics.set('errors{svc="a"}', 1)
    metrics.set('errors{svc="b"}', 1)  # the same evaluation: one group, one notification
    metrics.set('down{svc="z"}', 1)  # ServiceDown (critical) inhibits ServiceSlow (warning)
    metrics.set('noisy{svc="a"}', 1)  # silenced
    hook.wait_for(lambda got: len(of(got, "HighErrors")) >= 2)  # first, then the repeat
    first, repeat = of(hook.taken(), "HighErrors")[:2]
    svcs = sorted(a["labels"]["svc"] for a in first["alerts"])
    assert svcs == ["a", "b"] and first["status"] == "firing"
    assert repeat["alerts"] == first["alerts"]  # repeat_interval 2s: the same alerts again
    (down,) = of(hook.taken(), "ServiceDown")
    assert [a["labels"]["svc"] for a in down["alerts"]] == ["z"]

    metrics.set('errors{svc="a"}', 0)
    metrics.set('errors{svc="b"}', 0)
    hook.wait_for(lambda got: any(p["status"] == "resolved" for p in of(got, "HighErrors")))
    resolved = next(p for p in of(hook.taken(), "HighErrors") if p["status"] == "resolved")
    assert sorted(a["status"] for a in resolved["alerts"]) == ["resolved", "resolved"]
    assert of(hook.taken(), "ServiceSlow") == [] and of(hook.taken(), "Noisy") == []


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_serve(
    request: pytest.FixtureRequest, tmp_path: Path, target: tuple[Target, str], hook: Hook
) -> Iterator[Serve]:
    """serve on SQLite, or on PostgreSQL where it dispatches once it holds the lease."""
    db = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    running = Serve(tmp_path, target[1], hook, db)
    yield running
    running.stop(signal.SIGKILL)


def test_sigkill_with_the_receiver_down_then_a_new_alert(
    any_db_serve: Serve, target: tuple[Target, str], hook: Hook
) -> None:
    serve, (metrics, _) = any_db_serve, target
    hook.answer = 503
    serve.start()
    metrics.set('errors{svc="a"}', 1)
    metrics.set('down{svc="x"}', 1)
    hook.wait_for(lambda got: {"HighErrors", "ServiceDown"} <= _groups(got), timeout=30)
    metrics.set('down{svc="y"}', 1)  # a second flush of ServiceDown's group, queued behind
    queued = serve.pending(wanted={"HighErrors": 1, "ServiceDown": 2})
    serve.stop(signal.SIGKILL)

    serve.start()
    hook.answer = 200
    # the rows wait out their backoff (1 s doubling per 503 before the kill)
    hook.wait_for(
        lambda got: queued <= {r.notification_id for r in got if r.answered == 200}, timeout=45
    )
    # new in a group that had 2 flushes (repeat_interval 1h): its sequence must go on at 3
    metrics.set('down{svc="z"}', 1)
    hook.wait_for(lambda got: any(_has(p, "z") for p in of(got, "ServiceDown")), timeout=20)

    by_id: dict[str, set[bytes]] = defaultdict(set)
    for r in hook.taken():
        by_id[r.notification_id].add(r.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())  # a retry is the same bytes
    assert {"HighErrors", "ServiceDown"} <= _groups(hook.taken())


def _groups(received: list[Received]) -> set[str]:
    return {r.json()["groupLabels"]["alertname"] for r in received}


def _has(payload: dict[str, Any], svc: str) -> bool:
    return any(a["labels"].get("svc") == svc for a in payload["alerts"])


def test_serve_refuses_an_integration_delivery_cannot_send(
    tmp_path: Path, target: tuple[Target, str], hook: Hook
) -> None:
    serving = Serve(tmp_path, target[1], hook)
    routes = ROUTES.replace("{url}", hook.url) + "  - name: chat\n    slack_configs:\n"
    (tmp_path / "alertmanager.yml").write_text(routes + "      - api_url: http://s.example/\n")
    argv = [str(SAFESHIP), "serve", "-c", str(serving.config), "--listen", "127.0.0.1:0"]
    done = subprocess.run(argv, env=serving.env, cwd=tmp_path, capture_output=True, timeout=30)
    shown = done.stderr.decode() + done.stdout.decode()
    assert done.returncode == 2, shown
    assert "alertmanager.yml:21: key 'receivers[1].slack_configs[0]'" in shown
    assert "apprise_configs with urls: [slack://" in shown

"""Routing parity with Debian's real Alertmanager: the same config and the same alerts give
the same notifications (receiver, group key, group labels, alerts by fingerprint), with
continue, group_by, match_re, inhibition and a silence in play."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.grouping import AlertRecord, DispatchState, Policy, step
from safeship.alerting.silences import Silence
from safeship.core.labels import make_labels
from safeship.core.matchers import parse_matcher
from safeship.core.net import free_port

pytestmark = pytest.mark.integration

CONFIG = """\
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      group_by: [alertname, cluster]
      continue: true
    - match_re: {{service: 'db|cache'}}
      receiver: team
receivers:
  - name: team
    webhook_configs: [{{url: '{hook}/team'}}]
  - name: pager
    webhook_configs: [{{url: '{hook}/pager'}}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
"""
ALERTS = [
    {"alertname": "Down", "severity": "page", "cluster": "eu", "service": "web"},
    {"alertname": "Down", "severity": "page", "cluster": "us", "service": "web"},
    {"alertname": "Slow", "severity": "warning", "cluster": "eu", "service": "db"},
    {"alertname": "Disk", "severity": "critical", "cluster": "eu", "service": "db"},
    {"alertname": "Slow", "severity": "warning", "cluster": "us", "service": "db"},
    {"alertname": "Other", "service": "web"},
    {"alertname": "Muted", "service": "web"},
]
SILENCED = 'alertname="Muted"'


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]]  # each fixture's subclass sets its own

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()


@pytest.fixture
def alertmanager(tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> Iterator[str]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(hook=hook[0]))
    port = free_port()
    command = [
        "prometheus-alertmanager",
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "alertmanager did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def test_same_notifications_as_alertmanager(
    alertmanager: str, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    now = time.time()
    silence = {"matchers": [{"name": "alertname", "value": "Muted", "isRegex": False}],
               "startsAt": _iso(now - 60), "endsAt": _iso(now + 3600),
               "createdBy": "test", "comment": "parity"}  # fmt: skip
    httpx.post(f"{alertmanager}/api/v2/silences", json=silence, timeout=5).raise_for_status()
    posted = [{"labels": a, "startsAt": _iso(now), "endsAt": _iso(now + 3600)} for a in ALERTS]
    httpx.post(f"{alertmanager}/api/v2/alerts", json=posted, timeout=5).raise_for_status()
    deadline = time.monotonic() + 15
    while len(hook[1]) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # anything more would come now
    theirs = {
        _summary(p["receiver"], p["groupKey"], p["groupLabels"], p["alerts"]) for p in hook[1]
    }

    config = AlertmanagerConfig.model_validate(yaml.safe_load(CONFIG.format(hook="http://x")))
    policy = Policy.of(config)
    start_ms = round(now * 1000)
    records = [AlertRecord(make_labels(a), (), start_ms, start_ms + 3_600_000) for a in ALERTS]
    ours_silence = Silence("s", (parse_matcher(SILENCED),), now - 60, now + 3600, "t", "c", now)
    first = step(policy, DispatchState(), records, silences=[ours_silence], now_ms=start_ms)
    assert first.notifications == ()  # group_wait
    flushed = step(policy, first.state, [], silences=[ours_silence], now_ms=start_ms + 1000)
    ours = {
        _summary(
            n.receiver,
            n.group_key,
            dict(n.group_labels),
            [{"fingerprint": a.fingerprint, "status": a.status.value} for a in n.alerts],
        )
        for n in flushed.notifications
    }
    assert ours == theirs
    assert len(ours) == 5  # 2 page groups + Down, Slow (us only: eu is inhibited), Other


def _summary(
    receiver: str, key: str, labels: dict[str, str], alerts: list[dict[str, Any]]
) -> tuple[str, str, str, frozenset[tuple[str, str]]]:
    shown = json.dumps(labels, sort_keys=True)
    return receiver, key, shown, frozenset((a["fingerprint"], a["status"]) for a in alerts)

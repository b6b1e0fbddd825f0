"""Forwarding to an external Alertmanager, against Debian's real prometheus-alertmanager: the
alerts safeship posts show in its API v2 (and leave it once resolved), and its own webhook
fires to a loopback receiver with the payload safeship's webhook imitates (same keys)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from safeship.alerting.delivery import DeliverySettings
from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.alerting.payloads import webhook_payload
from safeship.alerting.receivers import Receiver
from safeship.core.clock import SystemClock
from safeship.core.net import free_port
from safeship.store.outbox import OutboxStatus
from safeship.store.repository import Store
from safeship.wiring.notifications import delivery
from tests.integration.webhook_kit import Hook, hook_server

pytestmark = pytest.mark.integration  # scripts/install-system.sh installs the alertmanager

AM_CONFIG = """\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
- name: hook
  webhook_configs:
  - url: {hook}/from-alertmanager
"""


@pytest.fixture
def hook() -> Iterator[Hook]:
    with hook_server() as running:
        yield running


@pytest.fixture
def alertmanager(tmp_path: Path, hook: Hook) -> Iterator[str]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(AM_CONFIG.format(hook=hook.url))
    port = free_port()
    process = subprocess.Popen(
        [
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"alertmanager at {url} never got ready")


def test_forwarded_alerts_reach_alertmanager_and_its_webhook_fires(
    tmp_path: Path, alertmanager: str, hook: Hook
) -> None:
    now_ms = int(time.time() * 1000)
    alert = NotifiedAlert(
        labels=(("alertname", "HighErrors"), ("service", "api")),
        annotations=(("summary", "api fails"),),
        status=Status.FIRING,
        starts_at_ms=now_ms,
        ends_at_ms=None,
        generator_url="http://safeship:8470/graph",
        fingerprint="fp",
    )
    sent = Notification(
        receiver="upstream",
        group_key='{}:{alertname="HighErrors"}',
        group_labels=(("alertname", "HighErrors"),),
        alerts=(alert,),
        sequence=1,
    )
    receiver = Receiver.model_validate(
        {"name": "upstream", "alertmanager_configs": [{"url": alertmanager}]}
    )
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        forward(store, receiver, sent)

    (listed,) = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
    assert listed["labels"] == {"alertname": "HighErrors", "service": "api"}
    assert listed["annotations"] == {"summary": "api fails"}
    assert listed["generatorURL"] == "http://safeship:8470/graph"
    assert listed["status"]["state"] == "active"

    hook.wait_for(lambda got: any(r.path == "/from-alertmanager" for r in got))
    theirs = next(r for r in hook.received if r.path == "/from-alertmanager").json()
    ours = webhook_payload(sent, external_url="")
    assert set(theirs) == set(ours)
    assert set(theirs["alerts"][0]) == set(ours["alerts"][0])
    assert (theirs["version"], theirs["status"]) == ("4", "firing")
    assert theirs["alerts"][0]["labels"] == ours["alerts"][0]["labels"]
    assert theirs["alerts"][0]["endsAt"] == ours["alerts"][0]["endsAt"]  # Go's zero time

    # The group resolves: the forwarded end resolves the alert over there too.
    ended = replace(alert, status=Status.RESOLVED, ends_at_ms=int(time.time() * 1000))
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        forward(store, receiver, replace(sent, alerts=(ended,), sequence=2))
    assert httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json() == []
    hook.wait_for(lambda got: any(r.json()["status"] == "resolved" for r in got))


def forward(store: Store, receiver: Receiver, sent: Notification) -> None:
    """Submit `sent` to the outbox and run one round of the worker: it is delivered."""
    built = delivery(
        store,
        {receiver.name: receiver},
        clock=SystemClock(),
        registry=CollectorRegistry(),
        settings=DeliverySettings(),
        external_url="",
    )
    built.outbox.submit([sent])

    async def once() -> None:
        await built.worker.run_once()
        await built.worker.aclose()

    asyncio.run(once())
    row = store.notifications()[-1]
    assert (row.sequence, row.status) == (sent.sequence, OutboxStatus.delivered), row.last_error

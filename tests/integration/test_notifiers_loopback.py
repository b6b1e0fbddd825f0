"""The notifiers for real, against a receiver on loopback, through the outbox and worker:
the webhook's payload, headers and bearer credentials (read from a 0600 file, never shown),
and apprise's `json://` URL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from safeship.alerting.delivery import DeliverySettings
from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.alerting.receivers import Receiver
from safeship.core.clock import SystemClock
from safeship.store.outbox import OutboxRow, OutboxStatus
from safeship.store.repository import Store
from safeship.wiring.notifications import delivery
from tests.integration.webhook_kit import Hook, hook_server, self_signed

pytestmark = pytest.mark.integration
TOKEN = "s3cr3t-bearer-token-for-the-hook"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        yield opened


@pytest.fixture
def hook() -> Iterator[Hook]:
    with hook_server() as running:
        yield running


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "hook-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def firing(name: str, instance: str) -> NotifiedAlert:
    return NotifiedAlert(
        labels=(("alertname", name), ("instance", instance)),
        annotations=(("summary", f"{instance} fails"),),
        status=Status.FIRING,
        starts_at_ms=1_767_225_600_000,
        ends_at_ms=None,
        generator_url="http://safeship/x",
        fingerprint=f"fp-{instance}",
    )


GROUP = Notification(
    receiver="team",
    group_key='{}:{alertname="HighErrors"}',
    group_labels=(("alertname", "HighErrors"),),
    alerts=(firing("HighErrors", "a"), firing("HighErrors", "b")),
    sequence=1,
)


def deliver_once(
    store: Store, receiver: dict[str, Any], environ: dict[str, str] | None = None
) -> list[OutboxRow]:
    """Submit GROUP to `receiver` and run one round of the worker; the rows afterwards."""
    built = delivery(
        store,
        {"team": Receiver.model_validate(receiver)},
        clock=SystemClock(),
        registry=CollectorRegistry(),
        settings=DeliverySettings(),
        external_url="http://safeship:8470",
        environ=environ or {},
    )
    built.outbox.submit([GROUP])

    async def once() -> None:
        await built.worker.run_once()
        await built.worker.aclose()

    asyncio.run(once())
    return store.notifications()


def webhook(hook: Hook, credentials: Path, **extra: Any) -> dict[str, Any]:
    config = {
        "url": f"{hook.url}/alerts",
        "http_config": {"authorization": {"credentials_file": str(credentials)}},
        **extra,
    }
    return {"name": "team", "webhook_configs": [config]}


def test_the_webhook_gets_alertmanagers_payload_with_bearer_and_notification_id(
    store: Store, hook: Hook, credentials: Path
) -> None:
    (row,) = deliver_once(store, webhook(hook, credentials, max_alerts=1))
    assert row.status is OutboxStatus.delivered
    (got,) = hook.received
    assert got.path == "/alerts"
    assert got.headers["authorization"] == f"Bearer {TOKEN}"
    assert got.headers["content-type"] == "application/json"
    assert got.notification_id == row.notification_id
    body = got.json()
    assert (body["version"], body["receiver"], body["status"]) == ("4", "team", "firing")
    assert body["groupKey"] == GROUP.group_key and body["externalURL"] == "http://safeship:8470"
    assert [a["labels"]["instance"] for a in body["alerts"]] == ["a"]
    assert body["truncatedAlerts"] == 1


def test_a_refusal_is_dead_at_once_and_its_error_never_shows_the_token(
    store: Store, hook: Hook, credentials: Path
) -> None:
    hook.answer = 401  # and the answer echoes the Authorization header back
    (row,) = deliver_once(store, webhook(hook, credentials))
    assert row.status is OutboxStatus.dead and row.attempts == 1
    assert row.last_error is not None and "HTTP 401" in row.last_error
    assert TOKEN not in row.last_error and "***" in row.last_error


def test_a_credentials_file_others_may_read_is_not_used(
    store: Store, hook: Hook, credentials: Path
) -> None:
    credentials.chmod(0o644)
    (row,) = deliver_once(store, webhook(hook, credentials))
    assert hook.received == []
    assert row.status is OutboxStatus.pending  # retried: fixing the mode is enough
    assert row.last_error is not None and f"chmod 600 {credentials}" in row.last_error


def test_apprise_json_url_posts_the_message_to_the_receiver(store: Store, hook: Hook) -> None:
    port = hook.url.rsplit(":", 1)[1]
    receiver = {"name": "team", "apprise_configs": [{"urls": ["${HOOK_URL}"]}]}
    (row,) = deliver_once(store, receiver, environ={"HOOK_URL": f"json://127.0.0.1:{port}/chat"})
    assert row.status is OutboxStatus.delivered
    (got,) = hook.received
    body = got.json()
    assert got.path == "/chat"
    assert body["title"] == "[FIRING:2] HighErrors"
    assert body["type"] == "failure"
    assert "- [firing] alertname=HighErrors, instance=a: a fails" in body["message"]


def test_an_apprise_failure_is_retried_with_apprises_reason(store: Store, hook: Hook) -> None:
    hook.answer = 500
    port = hook.url.rsplit(":", 1)[1]
    receiver = {"name": "team", "apprise_configs": [{"urls": [f"json://127.0.0.1:{port}/"]}]}
    (row,) = deliver_once(store, receiver)
    assert len(hook.received) == 1
    assert row.status is OutboxStatus.pending and row.attempts == 1
    assert row.last_error and "500" in row.last_error


def test_https_is_trusted_through_the_ca_file_and_refused_without_it(
    store: Store, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    with hook_server(tls=(cert, key)) as hook:
        trusted = {"url": hook.url, "http_config": {"tls_config": {"ca_file": str(cert)}}}
        (row,) = deliver_once(store, {"name": "team", "webhook_configs": [trusted]})
        assert row.status is OutboxStatus.delivered and len(hook.received) == 1
    with (
        Store.open(f"sqlite:///{tmp_path / 'other.db'}") as other,
        hook_server(tls=(cert, key)) as hook,
    ):
        (row,) = deliver_once(other, {"name": "team", "webhook_configs": [{"url": hook.url}]})
        assert row.status is OutboxStatus.pending and hook.received == []
        assert row.last_error is not None and "CERTIFICATE_VERIFY_FAILED" in row.last_error

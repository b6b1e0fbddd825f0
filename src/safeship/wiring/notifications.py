"""Wiring of notification delivery: the outbox worker over the state database, with one
notifier per integration of the receivers of an Alertmanager config file.

Where it sits: "routes ─▶ notifications" (DESIGN §2), the sending end. `delivery` builds
the worker (and the `Outbox` sink routing submits to) for whoever runs it: `safeship
notifications deliver` runs it alone, in the foreground, until stopped. It decides nothing;
alerting/delivery.py delivers and alerting/delivery_policy.py decides about retries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from safeship.alerting.delivery import DeliverySettings, DeliveryWorker, Outbox
from safeship.alerting.notifiers.apprise_urls import SEND_TIMEOUT_S as APPRISE_S
from safeship.alerting.notifiers.factory import build
from safeship.alerting.receivers import AlertmanagerConfig, Receiver, Receivers, WebhookConfig
from safeship.config.documents import load_model
from safeship.core.addresses import split_host_port
from safeship.core.clock import Clock
from safeship.core.errors import UsageError
from safeship.store.repository import Store


def load_receivers(path: Path) -> dict[str, Receiver]:
    """The `receivers:` of the Alertmanager config at `path`; ConfigError names file:line:key."""
    return load_model(path, Receivers).by_name()


@dataclass
class DeliveryParts:
    outbox: Outbox
    worker: DeliveryWorker


def delivery(
    store: Store,
    receivers: dict[str, Receiver],
    *,
    clock: Clock,
    registry: CollectorRegistry,
    settings: DeliverySettings,
    external_url: str,
    environ: Mapping[str, str] | None = None,
) -> DeliveryParts:
    """The sink routing submits to and the worker that empties it, on the same store;
    `${NAME}` in apprise URLs is read from `environ` (this process's by default)."""
    _check_hold(receivers, settings)
    env = os.environ if environ is None else environ
    notifiers = build(receivers, external_url=external_url, environ=env)
    worker = DeliveryWorker(store, notifiers, clock=clock, registry=registry, settings=settings)
    return DeliveryParts(Outbox(store, receivers, wake=worker.wake), worker)


async def deliver(
    config: Path,
    *,
    db_url: str,
    clock: Clock,
    settings: DeliverySettings,
    external_url: str,
    metrics_listen: str | None = None,
) -> None:
    """Deliver what the outbox holds, and whatever is submitted later, until cancelled."""
    receivers = load_receivers(config)
    registry = CollectorRegistry()
    if metrics_listen is not None:
        host, port = split_host_port(metrics_listen)
        start_http_server(port, addr=host, registry=registry)
    with Store.open(db_url, clock=clock) as store:
        built = delivery(
            store,
            receivers,
            clock=clock,
            registry=registry,
            settings=settings,
            external_url=external_url,
        )
        await built.worker.run()


def _check_hold(receivers: Mapping[str, Receiver], settings: DeliverySettings) -> None:
    """A claim must outlast any send: a row claimed again while its first send still runs
    would be sent twice without a crash."""
    timeouts = [
        config.timeout if isinstance(config, WebhookConfig | AlertmanagerConfig) else APPRISE_S
        for receiver in receivers.values()
        for _, config in receiver.integrations()
    ]
    longest = max(timeouts, default=0.0)
    if settings.hold_s <= longest:
        raise UsageError(
            f"the claim hold ({settings.hold_s:g}s) must be longer than the longest send"
            f" timeout ({longest:g}s): raise --hold or lower the timeout"
        )

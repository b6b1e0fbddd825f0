"""One notifier per integration of each receiver, keyed as the outbox rows name them."""

from __future__ import annotations

from collections.abc import Mapping

from safeship.alerting.notifiers import Notifier
from safeship.alerting.notifiers.alertmanager import AlertmanagerNotifier
from safeship.alerting.notifiers.apprise_urls import AppriseNotifier
from safeship.alerting.notifiers.webhook import WebhookNotifier
from safeship.alerting.receivers import (
    AlertmanagerConfig,
    AppriseConfig,
    Integration,
    Receiver,
    WebhookConfig,
)

Key = tuple[str, str]  # (receiver, integration)


def build(
    receivers: Mapping[str, Receiver],
    *,
    external_url: str,
    environ: Mapping[str, str] | None = None,
) -> dict[Key, Notifier]:
    notifiers: dict[Key, Notifier] = {}
    for index, receiver in enumerate(receivers.values()):
        for name, config in receiver.integrations():
            where = f"receivers[{index}].{name}"
            notifiers[(receiver.name, name)] = _one(config, external_url, where, environ)
    return notifiers


def _one(
    config: Integration, external_url: str, where: str, environ: Mapping[str, str] | None
) -> Notifier:
    if isinstance(config, WebhookConfig):
        return WebhookNotifier(config, external_url=external_url)
    if isinstance(config, AppriseConfig):
        return AppriseNotifier(config, external_url=external_url, where=where, environ=environ)
    assert isinstance(config, AlertmanagerConfig)
    return AlertmanagerNotifier(config)

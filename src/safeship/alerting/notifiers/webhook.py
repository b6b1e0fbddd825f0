"""The webhook notifier: Alertmanager's webhook payload (version 4) by HTTP POST.

Every attempt of one notification sends the same bytes with the same
`X-Safeship-Notification-Id` header: a receiver that de-duplicates on that header sees
each notification once even when a crash between sending and recording makes safeship
send it again.
"""

from __future__ import annotations

import json

from safeship.alerting.notifiers import Delivery
from safeship.alerting.notifiers.http import client, post
from safeship.alerting.payloads import webhook_payload
from safeship.alerting.receivers import WebhookConfig
from safeship.core.secrets import SECRETS


class WebhookNotifier:
    def __init__(self, config: WebhookConfig, *, external_url: str) -> None:
        self._config = config
        self._external_url = external_url
        self._http = client(config.http_config, timeout=config.timeout)
        SECRETS.add(config.target)  # as in Alertmanager: a webhook URL often holds a token

    async def send(self, delivery: Delivery) -> None:
        payload = webhook_payload(
            delivery.notification,
            external_url=self._external_url,
            max_alerts=self._config.max_alerts,
        )
        await post(
            self._http,
            self._config.target,
            body=json.dumps(payload).encode(),
            notification_id=delivery.notification_id,
            config=self._config.http_config,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

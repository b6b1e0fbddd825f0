"""Forwarding to an external Alertmanager: the notification's alerts, POSTed to its API v2
(`/api/v2/alerts`), where its own routes, silences and receivers take over.

A firing alert is sent without an end, so the other Alertmanager resolves it by its
`resolve_timeout` unless safeship sends it again: route to this receiver with a
`repeat_interval` shorter than that timeout. A resolved alert carries its end.
"""

from __future__ import annotations

import json

from safeship.alerting.notifiers import Delivery
from safeship.alerting.notifiers.http import client, post
from safeship.alerting.payloads import postable_alerts
from safeship.alerting.receivers import AlertmanagerConfig

ALERTS_PATH = "/api/v2/alerts"


class AlertmanagerNotifier:
    def __init__(self, config: AlertmanagerConfig) -> None:
        self._config = config
        self._url = config.url.rstrip("/") + ALERTS_PATH
        self._http = client(config.http_config, timeout=config.timeout)

    async def send(self, delivery: Delivery) -> None:
        await post(
            self._http,
            self._url,
            body=json.dumps(postable_alerts(delivery.notification)).encode(),
            notification_id=delivery.notification_id,
            config=self._config.http_config,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

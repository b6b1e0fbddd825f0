"""The apprise notifier: one message to every apprise URL of the integration (Slack, email,
PagerDuty, Teams, Telegram, a JSON or form webhook, ...).

Each URL is a secret (it usually carries a token): registered so nothing shows it, and
`${NAME}` reads it from the environment. The attempt fails when any URL fails; apprise's
own log of the failure, scrubbed, is the error kept. Apprise does not say whether a failure
is permanent, so every failure is retried.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import apprise

from safeship.alerting.notification import Status
from safeship.alerting.notifiers import Delivery, SendFailed
from safeship.alerting.payloads import message
from safeship.alerting.receivers import AppriseConfig
from safeship.core.errors import ConfigError, ConfigIssue
from safeship.core.secrets import resolve_secret, scrub

# What one attempt may take at most: apprise's own timeouts (4 s to connect, 4 s to read)
# for each URL, with room for a plugin's retries. The outbox's claim hold must exceed it.
SEND_TIMEOUT_S = 30.0


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(record.getMessage())


@contextmanager
def _told() -> Iterator[list[str]]:
    """What apprise logs meanwhile (warnings and errors): why a URL failed."""
    told: list[str] = []
    handler = _Collect(told)
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    try:
        yield told
    finally:
        logger.removeHandler(handler)


class AppriseNotifier:
    def __init__(
        self,
        config: AppriseConfig,
        *,
        external_url: str,
        where: str,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._external_url = external_url
        self._apprise = apprise.Apprise()
        env = os.environ if environ is None else environ
        for i, url in enumerate(config.urls):
            if not self._apprise.add(resolve_secret(url, environ=env)):
                found = "a URL apprise does not know"
                expected = "an apprise URL (https://github.com/caronc/apprise/wiki)"
                raise ConfigError([ConfigIssue("", None, f"{where}.urls[{i}]", found, expected)])

    async def send(self, delivery: Delivery) -> None:
        title, body = message(delivery.notification, external_url=self._external_url)
        firing = delivery.notification.status is Status.FIRING
        kind = apprise.NotifyType.FAILURE if firing else apprise.NotifyType.SUCCESS
        with _told() as told:
            sent = await self._apprise.async_notify(body=body, title=title, notify_type=kind)
        if not sent:
            raise SendFailed(scrub(" | ".join(told[-3:]) or "apprise could not notify"))

    async def aclose(self) -> None:
        return None

"""Notifiers: one module per way a notification leaves safeship, each behind `Notifier`.

`webhook` (Alertmanager's webhook payload, version 4), `apprise` (Slack, email, PagerDuty,
Teams, Telegram, ... by URL) and `alertmanager` (forwarding to an external Alertmanager's
API v2). `build` makes one per integration of each receiver; the delivery worker
(alerting/delivery.py) calls them and decides about retries from what they raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from safeship.alerting.notification import Notification
from safeship.core.errors import ExitCode, SafeshipError

NOTIFICATION_ID_HEADER = "X-Safeship-Notification-Id"


@dataclass(frozen=True)
class Delivery:
    """One attempt's input: the notification and the identity every retry of it carries."""

    notification: Notification
    notification_id: str


class SendFailed(SafeshipError):
    """An attempt that failed; `retryable` says whether trying again can help."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNAVAILABLE
    http_status: ClassVar[int] = 502

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)


class Notifier(Protocol):
    async def send(self, delivery: Delivery) -> None:
        """Deliver or raise `SendFailed`."""
        ...

    async def aclose(self) -> None: ...

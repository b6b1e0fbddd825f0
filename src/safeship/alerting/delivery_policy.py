"""When to try a notification again, when to give up, and which integrations get what.

Pure: the delivery worker (alerting/delivery.py) asks, passing the time and a random number,
so backoff and dead-lettering are decided in a few lines a test can table. Every reason a
notification is dead-lettered:

- `Refused`: the receiver answered that resending cannot help (HTTP 4xx other than 408/429);
- `TooManyAttempts`: `max_attempts` attempts failed;
- `TooOld`: the next attempt would start after `max_age_s` since the notification was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from safeship.alerting.notification import Notification
from safeship.alerting.payloads import without_resolved
from safeship.alerting.receivers import Receiver


class DeadReason(StrEnum):
    Refused = "the receiver refused it"
    TooManyAttempts = "too many failed attempts"
    TooOld = "too old to deliver"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits between half and all of
    `min(max_delay_s, initial_s * multiplier ** (n - 1))`."""

    initial_s: float = 1.0
    multiplier: float = 2.0
    max_delay_s: float = 300.0
    max_attempts: int = 100
    max_age_s: float = 24 * 3600.0


@dataclass(frozen=True)
class Retry:
    at: float


@dataclass(frozen=True)
class GiveUp:
    reason: DeadReason


def backoff(attempts: int, *, policy: RetryPolicy, jitter: float) -> float:
    """Seconds to wait after the `attempts`-th failure; `jitter` in [0, 1) spreads retries
    of many notifications that failed together (an outage) so they do not return as one."""
    exponent = min(max(0, attempts - 1), 64)  # past the cap long before; no float overflow
    delay = min(policy.max_delay_s, policy.initial_s * policy.multiplier**exponent)
    return delay * (0.5 + 0.5 * jitter)


def after_failure(
    *,
    attempts: int,
    created_at: float,
    now: float,
    retryable: bool,
    policy: RetryPolicy,
    jitter: float,
) -> Retry | GiveUp:
    """What to do after attempt number `attempts` failed."""
    if not retryable:
        return GiveUp(DeadReason.Refused)
    if policy.max_attempts and attempts >= policy.max_attempts:
        return GiveUp(DeadReason.TooManyAttempts)
    at = now + backoff(attempts, policy=policy, jitter=jitter)
    if at - created_at > policy.max_age_s:
        return GiveUp(DeadReason.TooOld)
    return Retry(at)


def retryable_status(status: int) -> bool:
    """Whether an HTTP answer is worth trying again: server errors, timeouts, rate limits
    (Alertmanager's notifiers retry 5xx and give up on other 4xx, too)."""
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True)
class Planned:
    """One integration of a receiver and what it is to be sent."""

    integration: str
    notification: Notification


def plan(receiver: Receiver, notification: Notification) -> list[Planned]:
    """What each integration of `receiver` gets: the notification, or its firing alerts only
    where `send_resolved` is false (nothing at all when none fire)."""
    planned = []
    for name, config in receiver.integrations():
        sent = notification if config.send_resolved else without_resolved(notification)
        if sent is not None:
            planned.append(Planned(name, sent))
    return planned

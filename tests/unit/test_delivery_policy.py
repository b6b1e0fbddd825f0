"""When a failed notification is tried again and when it is given up (alerting/delivery_policy),
and what each integration of a receiver is sent."""

from __future__ import annotations

import pytest

from safeship.alerting.delivery_policy import (
    DeadReason,
    GiveUp,
    Retry,
    RetryPolicy,
    after_failure,
    backoff,
    plan,
    retryable_status,
)
from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.alerting.receivers import Receiver

POLICY = RetryPolicy(initial_s=1, multiplier=2, max_delay_s=60, max_attempts=10, max_age_s=3600)


@pytest.mark.parametrize(
    ("attempts", "jitter", "wait"),
    [
        (1, 0.999999, 1.0),  # the first retry after about initial_s
        (1, 0.0, 0.5),  # jitter takes at most half away
        (2, 0.0, 1.0),
        (3, 0.5, 3.0),  # 4 s, jittered by a quarter
        (7, 0.999999, 60.0),  # 64 s capped at max_delay_s
        (40, 0.0, 30.0),  # capped, however many attempts
    ],
)
def test_backoff_doubles_up_to_the_cap_with_jitter(
    attempts: int, jitter: float, wait: float
) -> None:
    assert backoff(attempts, policy=POLICY, jitter=jitter) == pytest.approx(wait, abs=1e-4)


@pytest.mark.parametrize(
    ("attempts", "age", "retryable", "expected"),
    [
        (1, 0, True, Retry(1000.0 + 1.0)),
        (9, 100, True, Retry(1100.0 + 60.0)),
        (10, 100, True, GiveUp(DeadReason.TooManyAttempts)),
        (3, 3597, True, GiveUp(DeadReason.TooOld)),  # the retry would start past max_age
        (3, 3595, True, Retry(1000.0 + 3595 + 4)),
        (1, 0, False, GiveUp(DeadReason.Refused)),
    ],
)
def test_after_a_failure_retry_later_or_give_up(
    attempts: int, age: float, retryable: bool, expected: Retry | GiveUp
) -> None:
    decided = after_failure(
        attempts=attempts,
        created_at=1000.0 - 0.0,
        now=1000.0 + age,
        retryable=retryable,
        policy=POLICY,
        jitter=0.999999,
    )
    if isinstance(expected, Retry):
        assert isinstance(decided, Retry)
        assert decided.at == pytest.approx(expected.at, abs=1e-3)
    else:
        assert decided == expected


def test_no_attempt_limit_when_max_attempts_is_zero() -> None:
    unlimited = RetryPolicy(max_attempts=0, max_age_s=1e9)
    decided = after_failure(
        attempts=10_000, created_at=0, now=1, retryable=True, policy=unlimited, jitter=0
    )
    assert isinstance(decided, Retry)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (408, True), (429, True), (400, False), (404, False)],
)
def test_server_errors_are_retried_client_errors_are_not(status: int, retryable: bool) -> None:
    assert retryable_status(status) is retryable


def alert(status: Status, name: str) -> NotifiedAlert:
    return NotifiedAlert(
        labels=(("alertname", name),),
        annotations=(),
        status=status,
        starts_at_ms=0,
        ends_at_ms=None if status is Status.FIRING else 1000,
        generator_url="",
        fingerprint=name,
    )


def notification(*alerts: NotifiedAlert) -> Notification:
    return Notification(
        receiver="team", group_key="{}:{}", group_labels=(), alerts=alerts, sequence=1
    )


def test_each_integration_gets_the_notification_and_send_resolved_false_drops_resolved() -> None:
    receiver = Receiver.model_validate(
        {
            "name": "team",
            "webhook_configs": [{"url": "http://a/"}, {"url": "http://b/", "send_resolved": False}],
            "apprise_configs": [{"urls": ["json://c/"], "send_resolved": False}],
        }
    )
    mixed = notification(alert(Status.FIRING, "A"), alert(Status.RESOLVED, "B"))
    planned = plan(receiver, mixed)
    assert [p.integration for p in planned] == [
        "webhook_configs[0]",
        "webhook_configs[1]",
        "apprise_configs[0]",
    ]
    assert [len(p.notification.alerts) for p in planned] == [2, 1, 1]
    resolved = notification(alert(Status.RESOLVED, "B"))
    assert [p.integration for p in plan(receiver, resolved)] == ["webhook_configs[0]"]

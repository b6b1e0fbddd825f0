"""How a notification goes on the wire (alerting/payloads.py): Alertmanager's webhook payload
version 4, API v2 alerts, a chat message, and the stored document a retry renders again."""

from __future__ import annotations

import json

import pytest

from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.alerting.payloads import (
    from_document,
    message,
    postable_alerts,
    rfc3339,
    to_document,
    webhook_payload,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def alert(name: str, status: Status = Status.FIRING, **labels: str) -> NotifiedAlert:
    return NotifiedAlert(
        labels=tuple(sorted({"alertname": "HighErrors", "service": "api", **labels}.items())),
        annotations=(("summary", f"{name} is failing"),),
        status=status,
        starts_at_ms=T0,
        ends_at_ms=None if status is Status.FIRING else T0 + 90_500,
        generator_url=f"http://safeship/graph?{name}",
        fingerprint=f"fp-{name}",
    )


GROUP = Notification(
    receiver="team",
    group_key='{}:{alertname="HighErrors"}',
    group_labels=(("alertname", "HighErrors"),),
    alerts=(
        alert("a", instance="a"),
        alert("b", Status.RESOLVED, instance="b"),
        alert("c", instance="c"),
    ),
    sequence=3,
)


def test_the_webhook_payload_is_alertmanagers_version_4() -> None:
    body = webhook_payload(GROUP, external_url="http://safeship:8470")
    assert list(body) == [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ]
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="HighErrors"}'
    assert body["groupLabels"] == {"alertname": "HighErrors"}
    assert body["commonLabels"] == {"alertname": "HighErrors", "service": "api"}
    assert body["commonAnnotations"] == {}
    assert body["alerts"][0] == {
        "status": "firing",
        "labels": {"alertname": "HighErrors", "instance": "a", "service": "api"},
        "annotations": {"summary": "a is failing"},
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://safeship/graph?a",
        "fingerprint": "fp-a",
    }
    assert body["alerts"][1]["endsAt"] == "2026-01-01T00:01:30.5Z"
    assert body["truncatedAlerts"] == 0


def test_max_alerts_keeps_the_first_and_counts_the_rest() -> None:
    body = webhook_payload(GROUP, external_url="", max_alerts=2)
    assert [a["fingerprint"] for a in body["alerts"]] == ["fp-a", "fp-b"]
    assert body["truncatedAlerts"] == 1
    assert body["status"] == "firing"


def test_after_truncation_status_and_common_labels_are_those_of_the_alerts_kept() -> None:
    """As Alertmanager's webhook notifier does: truncate first, then compute the data."""
    mixed = Notification(
        receiver="team",
        group_key="k",
        group_labels=(),
        alerts=(alert("b", Status.RESOLVED, instance="b"), alert("a", instance="a")),
        sequence=1,
    )
    body = webhook_payload(mixed, external_url="", max_alerts=1)
    assert body["status"] == "resolved"
    assert body["commonLabels"] == {"alertname": "HighErrors", "instance": "b", "service": "api"}


def test_a_group_with_no_firing_alert_is_resolved() -> None:
    resolved = Notification(
        receiver="team",
        group_key="k",
        group_labels=(),
        alerts=(alert("b", Status.RESOLVED),),
        sequence=4,
    )
    assert webhook_payload(resolved, external_url="")["status"] == "resolved"


def test_a_stored_notification_renders_the_same_bytes_after_a_json_round_trip() -> None:
    stored = json.loads(json.dumps(to_document(GROUP)))
    assert from_document(stored) == GROUP
    again = webhook_payload(from_document(stored), external_url="x")
    assert json.dumps(again) == json.dumps(webhook_payload(GROUP, external_url="x"))


def test_alerts_for_alertmanager_api_v2_carry_an_end_only_when_resolved() -> None:
    posted = postable_alerts(GROUP)
    assert posted[0] == {
        "labels": {"alertname": "HighErrors", "instance": "a", "service": "api"},
        "annotations": {"summary": "a is failing"},
        "startsAt": "2026-01-01T00:00:00Z",
        "generatorURL": "http://safeship/graph?a",
    }
    assert posted[1]["endsAt"] == "2026-01-01T00:01:30.5Z"


def test_the_chat_message_reads_like_alertmanagers_default_title() -> None:
    title, body = message(GROUP, external_url="http://safeship:8470")
    assert title == "[FIRING:2] HighErrors (api)"
    assert body.splitlines()[0] == (
        "- [firing] alertname=HighErrors, instance=a, service=api: a is failing"
    )
    assert body.splitlines()[-1] == "Source: http://safeship:8470"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (T0 + 1, "2026-01-01T00:00:00.001Z"),
        (T0 + 120, "2026-01-01T00:00:00.12Z"),
    ],
)
def test_times_are_written_as_go_writes_rfc3339nano(ms: int, text: str) -> None:
    assert rfc3339(ms) == text

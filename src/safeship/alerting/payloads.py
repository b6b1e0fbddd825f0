"""What a notification looks like on the wire: stored, as a webhook body, as alerts for an
Alertmanager, as a message for apprise.

Where it sits: between the outbox row and the notifier. A notification is stored as a JSON
document (`to_document`) when submitted and rendered from it at every attempt, by these pure
functions, so a retry sends the very same body. The webhook body is Alertmanager's payload
version 4; the forwarded alerts are the API v2 `postableAlerts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.core.labels import Labels, make_labels

GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


def to_document(notification: Notification) -> dict[str, Any]:
    """The notification as plain JSON, what the outbox stores."""
    return {
        "receiver": notification.receiver,
        "group_key": notification.group_key,
        "group_labels": dict(notification.group_labels),
        "sequence": notification.sequence,
        "truncated_alerts": notification.truncated_alerts,
        "alerts": [_alert_document(a) for a in notification.alerts],
    }


def _alert_document(alert: NotifiedAlert) -> dict[str, Any]:
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "status": alert.status.value,
        "starts_at_ms": alert.starts_at_ms,
        "ends_at_ms": alert.ends_at_ms,
        "generator_url": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def from_document(document: Mapping[str, Any]) -> Notification:
    return Notification(
        receiver=document["receiver"],
        group_key=document["group_key"],
        group_labels=make_labels(document["group_labels"]),
        alerts=tuple(_alert(a) for a in document["alerts"]),
        sequence=int(document["sequence"]),
        truncated_alerts=int(document.get("truncated_alerts", 0)),
    )


def _alert(document: Mapping[str, Any]) -> NotifiedAlert:
    return NotifiedAlert(
        labels=make_labels(document["labels"]),
        annotations=make_labels(document["annotations"]),
        status=Status(document["status"]),
        starts_at_ms=int(document["starts_at_ms"]),
        ends_at_ms=document["ends_at_ms"],
        generator_url=document["generator_url"],
        fingerprint=document["fingerprint"],
    )


def without_resolved(notification: Notification) -> Notification | None:
    """For an integration with `send_resolved: false`: the firing alerts only, or None when
    nothing is left to send (as Alertmanager filters them)."""
    firing = tuple(a for a in notification.alerts if a.status is Status.FIRING)
    if not firing:
        return None
    return Notification(
        receiver=notification.receiver,
        group_key=notification.group_key,
        group_labels=notification.group_labels,
        alerts=firing,
        sequence=notification.sequence,
        truncated_alerts=notification.truncated_alerts,
    )


def webhook_payload(
    notification: Notification, *, external_url: str, max_alerts: int = 0
) -> dict[str, Any]:
    """Alertmanager's webhook body, version 4; `max_alerts` > 0 keeps that many alerts and
    counts the rest in `truncatedAlerts`. As in Alertmanager, the status and the common
    labels are those of the alerts kept."""
    alerts = notification.alerts
    kept = alerts[:max_alerts] if max_alerts else alerts
    shown = Notification(
        receiver=notification.receiver,
        group_key=notification.group_key,
        group_labels=notification.group_labels,
        alerts=kept,
        sequence=notification.sequence,
    )
    return {
        "receiver": notification.receiver,
        "status": shown.status.value,
        "alerts": [_webhook_alert(a) for a in kept],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": dict(shown.common_labels),
        "commonAnnotations": dict(shown.common_annotations),
        "externalURL": external_url,
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": notification.truncated_alerts + len(alerts) - len(kept),
    }


def _webhook_alert(alert: NotifiedAlert) -> dict[str, Any]:
    return {
        "status": alert.status.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at_ms),
        "endsAt": rfc3339(alert.ends_at_ms) if alert.ends_at_ms is not None else GO_ZERO_TIME,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def postable_alerts(notification: Notification) -> list[dict[str, Any]]:
    """The alerts as Alertmanager's API v2 takes them (POST /api/v2/alerts): a resolved one
    carries its end, a firing one none (the receiving Alertmanager's resolve_timeout applies)."""
    alerts = []
    for alert in notification.alerts:
        posted: dict[str, Any] = {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.starts_at_ms),
            "generatorURL": alert.generator_url,
        }
        if alert.status is Status.RESOLVED and alert.ends_at_ms is not None:
            posted["endsAt"] = rfc3339(alert.ends_at_ms)
        alerts.append(posted)
    return alerts


def message(notification: Notification, *, external_url: str) -> tuple[str, str]:
    """(title, body) for a chat or mail message, like Alertmanager's default templates:
    `[FIRING:2] HighErrorRate api (page)` and one line per alert."""
    status = notification.status
    firing = sum(1 for a in notification.alerts if a.status is Status.FIRING)
    count = f":{firing}" if status is Status.FIRING else ""
    title = f"[{status.value.upper()}{count}] {_values(notification.group_labels)}"
    group_names = {name for name, _ in notification.group_labels}
    rest = tuple((k, v) for k, v in notification.common_labels if k not in group_names)
    if rest:
        title += f" ({_values(rest)})"
    lines = [_line(a) for a in notification.alerts]
    if external_url:
        lines.append(f"Source: {external_url}")
    return title, "\n".join(lines)


def _line(alert: NotifiedAlert) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in alert.labels)
    summary = dict(alert.annotations).get("summary") or dict(alert.annotations).get(
        "description", ""
    )
    text = f"- [{alert.status.value}] {labels}"
    return f"{text}: {summary}" if summary else text


def _values(labels: Labels) -> str:
    return " ".join(v for _, v in labels)


def rfc3339(ms: int) -> str:
    """A time in milliseconds as Go's RFC3339Nano writes it (UTC, trailing zeros cut)."""
    seconds, millis = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{millis:03d}".rstrip("0").rstrip(".")
    return f"{text}{fraction}Z"

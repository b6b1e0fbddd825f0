"""What routing hands to delivery: one notification of one alert group to one receiver.

The contract between the pure dispatcher (routing, grouping, inhibition, silences) and the
notifiers behind the outbox. Fields follow Alertmanager's webhook payload (version 4), so a
receiver renders it without knowing where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from safeship.core.labels import Labels


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class NotifiedAlert:
    """An alert as Alertmanager carries it; `fingerprint` identifies its label set."""

    labels: Labels
    annotations: Labels
    status: Status
    starts_at_ms: int
    ends_at_ms: int | None
    generator_url: str
    fingerprint: str


@dataclass(frozen=True)
class Notification:
    """One flush of an aggregation group to one receiver.

    `group_key` is Alertmanager's (route path + group labels); the outbox de-duplicates
    deliveries on (receiver, group_key, sequence), `sequence` counting this group's flushes.
    """

    receiver: str
    group_key: str
    group_labels: Labels
    alerts: tuple[NotifiedAlert, ...]
    sequence: int
    truncated_alerts: int = 0

    @property
    def status(self) -> Status:
        firing = any(a.status is Status.FIRING for a in self.alerts)
        return Status.FIRING if firing else Status.RESOLVED

    @property
    def common_labels(self) -> Labels:
        return _common(tuple(a.labels for a in self.alerts))

    @property
    def common_annotations(self) -> Labels:
        return _common(tuple(a.annotations for a in self.alerts))


def _common(sets: tuple[Labels, ...]) -> Labels:
    if not sets:
        return ()
    shared = set(sets[0])
    for labels in sets[1:]:
        shared &= set(labels)
    return tuple(sorted(shared))


class NotificationSink(Protocol):
    """Where routing hands its notifications: the outbox persists them (all of one call in
    one transaction) before anything is sent; submitting one again changes nothing."""

    def submit(self, notifications: Sequence[Notification]) -> None: ...

"""`escalate.receiver`: an incident nobody acknowledged is notified to a receiver of the
Alertmanager config through the notification outbox, once per escalation; a receiver that
is not in that config stops serve at start."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from safeship.alerting.notification import Notification, Status
from safeship.alerting.receivers import Receiver
from safeship.config.incidents import IncidentsSpec
from safeship.core.errors import ConfigError
from safeship.core.incidents import ObservedAlert
from safeship.incidents.manager import IncidentManager
from safeship.store.repository import Store
from safeship.testing import FakeClock
from safeship.wiring.notifications import check_escalations

SPEC = IncidentsSpec.model_validate(
    {
        "definitions": [
            {
                "name": "errors",
                "matchers": ['alertname="HighErrors"'],
                "severity": "critical",
                "escalate": {"after": "15m", "receiver": "pager"},
            }
        ]
    }
)


def test_an_unacknowledged_incident_is_notified_to_the_receiver_once(tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    sent: list[Notification] = []

    def submit(notifications: Sequence[Notification]) -> None:
        sent.extend(notifications)

    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as store:
        manager = IncidentManager(SPEC, store=store, clock=clock, notify=submit)
        labels = {"alertname": "HighErrors", "service": "shop"}
        manager.ingest([ObservedAlert.of(labels, firing=True, source="alertmanager")])
        manager.run_requested()
        assert sent == []
        clock.advance(16 * 60)
        manager.ingest([])
        manager.run_requested()
        manager.ingest([])
        manager.run_requested()
    (notification,) = sent
    assert notification.receiver == "pager" and notification.group_key.startswith("incident:")
    (alert,) = notification.alerts
    assert dict(alert.labels)["alertname"] == "HighErrors" and alert.status is Status.FIRING
    assert "escalated" in dict(alert.annotations)["summary"]


def test_a_receiver_missing_from_the_alertmanager_config_is_refused() -> None:
    pager = Receiver(name="pager")
    check_escalations(SPEC, {"pager": pager}, config="am.yml")
    with pytest.raises(ConfigError, match=r"incidents.definitions\[0\].escalate.receiver"):
        check_escalations(SPEC, {"team": Receiver(name="team")}, config="am.yml")
    with pytest.raises(ConfigError, match="alertmanager_config"):
        check_escalations(SPEC, None, config=None)

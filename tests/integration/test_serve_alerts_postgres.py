"""Alert state on PostgreSQL: migration 0004's table round-trips every field of an alert."""

from __future__ import annotations

import math

import pytest

from safeship.alerting.evaluator import Alert, RuleState, State
from safeship.alerting.group import GroupState
from safeship.alerting.manager import AlertMemory, LoadedGroup, restore
from safeship.alerting.rules import RuleGroup
from safeship.core.labels import make_labels

pytestmark = pytest.mark.integration
GROUP = RuleGroup.model_validate(
    {"name": "g", "rules": [{"record": "r", "expr": "1"}, {"alert": "A", "expr": "x > 1"}]}
)


def test_alert_state_round_trips_and_is_replaced_per_group(postgres_url: str) -> None:
    labels = make_labels({"alertname": "A", "job": "api"})
    alerts = {
        labels: Alert(labels, (("summary", "s"),), State.FIRING, math.nan, 1, 2, None, 3),
    }
    loaded = LoadedGroup(GROUP, "/rules.yml")
    memory = AlertMemory.open(postgres_url)
    try:
        memory.save(loaded, GroupState({1: RuleState(alerts)}))
        (row,) = memory.load()[loaded.key]
        assert row[0] == "A" and row[1].labels == labels and math.isnan(row[1].value)
        back = restore(GROUP, memory.load()[loaded.key])
        assert back.alerts[1].alerts[labels].keep_firing_since_ms == 3
        memory.save(loaded, GroupState())
        assert memory.load() == {}
    finally:
        memory.close()

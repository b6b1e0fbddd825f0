"""The dispatcher at the edge: alerts as Prometheus sends them, and a rule manager's firing
alert reaching the sink as one notification, then its resolution, on a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.dispatcher import Dispatcher, to_record
from safeship.alerting.evaluator import Alert, State
from safeship.alerting.manager import LoadedGroup, RuleManager
from safeship.alerting.notification import Notification, Status
from safeship.alerting.rules import RuleGroup
from safeship.alerting.silences import Silence
from safeship.core.labels import make_labels
from safeship.core.matchers import parse_matcher
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock

LABELS = make_labels({"alertname": "Down"})


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        (Alert(LABELS, (), State.PENDING, 1.0, active_at_ms=1_000), None),
        (Alert(LABELS, (), State.FIRING, 1.0, 1_000, 5_000), (5_000, 100_000 + 240_000)),
        (Alert(LABELS, (), State.INACTIVE, 1.0, 1_000, 5_000, 90_000), (5_000, 90_000)),
    ],
)  # fmt: skip
def test_alerts_as_prometheus_sends_them(alert: Alert, expected: tuple[int, int] | None) -> None:
    # valid for 4 x max(evaluation interval 15 s, resend delay 60 s) = 240 s
    record = to_record(alert, now_ms=100_000, valid_for_ms=240_000)
    assert (None if record is None else (record.starts_at_ms, record.ends_at_ms)) == expected


CONFIG = """
route: {receiver: hook, group_wait: 0s, group_interval: 1m, group_by: [alertname]}
receivers: [{name: hook, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]
"""
GROUP = RuleGroup.model_validate(
    {"name": "g", "interval": "15s", "rules": [{"alert": "Down", "expr": "up == 0"}]}
)


class ListSink:
    def __init__(self) -> None:
        self.got: list[tuple[float, Notification]] = []
        self.clock: FakeClock | None = None

    def submit(self, notifications: list[Notification]) -> None:
        assert self.clock is not None
        self.got += [(self.clock.now(), n) for n in notifications]


def test_a_firing_alert_reaches_the_sink_once_then_resolves() -> None:
    clock = FakeClock(1_700_000_000.0)
    store = SeriesStore()
    rules = RuleManager(
        [LoadedGroup(GROUP, "r.yml")], engine=Engine(store), store=store, clock=clock
    )
    config = AlertmanagerConfig.model_validate(yaml.safe_load(CONFIG))
    dispatcher = Dispatcher(config)
    sink = ListSink()
    sink.clock = clock
    start = clock.now()

    evaluated_at: list[float] = []
    while clock.now() - start < 600:  # a scrape of up every 5 s: 0 for 2 minutes, then 1
        now = clock.now()
        if round(now - start, 3) % 5 == 0:
            value = 0.0 if now - start < 120 else 1.0
            store.append({"__name__": "up", "job": "api"}, round(now * 1000), value)
        if rules.evaluate_due() == rules.groups()[0].interval_s:
            evaluated_at.append(now - start)
        clock.advance(dispatcher.poll(rules, sink, now=clock.now()))
    statuses = [(n.status, n.sequence) for _, n in sink.got]
    assert statuses == [(Status.FIRING, 1), (Status.RESOLVED, 2)]
    # group_wait 0: sent within one poll (0.2 s) of the evaluation that fired it
    assert sink.got[0][0] - start - evaluated_at[0] <= 0.2 + 1e-6
    # resolved by the first evaluation after 120 s; told at the group's next flush (1 m)
    resolved_at = next(t for t in evaluated_at if t >= 120)
    assert resolved_at <= sink.got[1][0] - start <= resolved_at + 60
    assert sink.got[0][1].group_key == '{}:{alertname="Down"}'


def test_silences_are_read_only_when_a_group_is_due() -> None:
    reads: list[float] = []
    silence = Silence("s", (parse_matcher('alertname="Down"'),), 0.0, 2e9, "me", "maintenance", 0.0)

    def silences() -> list[Silence]:
        reads.append(1)
        return [silence]

    config = AlertmanagerConfig.model_validate(yaml.safe_load(CONFIG))
    dispatcher = Dispatcher(config, silences=silences)
    firing = Alert(LABELS, (), State.FIRING, 1.0, 1_000, 1_000)
    assert dispatcher.tick([firing], now=100.0, interval_s=15) == []  # silenced
    assert dispatcher.tick([], now=100.1, interval_s=15) == []  # nothing due: no read
    assert len(reads) == 1
    silence = replace(silence, ends_at=100.0)  # expired
    assert dispatcher.tick([], now=160.0, interval_s=15) != []  # the group's next flush

"""Aggregation groups, one tick at a time on a fake clock: group_wait, group_interval,
repeat_interval, resolved notifications, inhibition, silences, time intervals, continue.

The dedup table is Alertmanager's notify_test.go TestDedupStageNeedsUpdate.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.grouping import (
    AlertRecord,
    DispatchState,
    LogEntry,
    Policy,
    fingerprint,
    needs_update,
    step,
)
from safeship.alerting.notification import Notification, Status
from safeship.alerting.silences import Silence
from safeship.core.clock import VirtualClock
from safeship.core.labels import make_labels
from safeship.core.matchers import parse_matcher

MIN = 60_000
NOW = 1_700_000_000_000


@pytest.mark.parametrize(
    ("entry", "firing", "resolved", "sends_resolved", "expected"),
    [
        (None, {2, 3, 4}, set(), False, True),
        (None, set(), {2, 3, 4}, False, False),
        (({1, 2, 3}, set(), NOW), {2, 3, 4}, set(), False, True),
        (({1, 2, 3}, set(), 0), {1, 2, 3}, set(), False, True),
        (({1, 2, 3}, set(), NOW - 9 * MIN), {1, 2, 3}, set(), False, False),
        (({1, 2, 3}, set(), NOW - 11 * MIN), {1, 2, 3}, set(), False, True),
        ((set(), {1, 2, 3}, NOW - 11 * MIN), set(), {3, 4, 5}, True, False),
        (({1, 2}, {3}, NOW - 9 * MIN), {1}, {2, 3}, False, False),
        (({1, 2}, {3}, NOW - 9 * MIN), {1}, {2, 3}, True, True),
        (({1, 2}, {3}, NOW - 9 * MIN), set(), {1, 2, 3}, False, True),
        (({1, 2}, {3}, NOW - 9 * MIN), set(), {1, 2, 3}, True, True),
    ],
)
def test_needs_update_as_alertmanagers_dedup_stage(
    entry: tuple[set[int], set[int], int] | None,
    firing: set[int],
    resolved: set[int],
    sends_resolved: bool,
    expected: bool,
) -> None:
    def fps(s: set[int]) -> frozenset[str]:
        return frozenset(str(i) for i in s)

    log = None if entry is None else LogEntry(fps(entry[0]), fps(entry[1]), entry[2], 1)
    got = needs_update(log, fps(firing), fps(resolved), 10 * MIN, NOW, sends_resolved)
    assert got is expected


def test_fingerprint_is_prometheus_fnv1a() -> None:
    # model.LabelSet{}.Fingerprint() is FNV-1a's offset basis; values differ by label set
    assert fingerprint(()) == "cbf29ce484222325"
    assert fingerprint(make_labels({"a": "b"})) != fingerprint(make_labels({"a": "c"}))


CONFIG = """
route:
  receiver: team
  group_by: [alertname]
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
      group_by: [alertname, cluster]
    - matchers: ['quiet="nights"']
      receiver: team
      mute_time_intervals: [nights]
    - matchers: ['office="hours"']
      receiver: team
      active_time_intervals: [office]
receivers:
  - name: team
    webhook_configs: [{url: 'http://127.0.0.1:1/a'}]
  - name: pager
    webhook_configs: [{url: 'http://127.0.0.1:1/b', send_resolved: false}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
  - source_matchers: [kind="peer"]
    target_matchers: [kind="peer"]
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}]
  - name: office
    time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}]}]
"""


class Flight:
    """The state machine on a fake clock; `at(seconds)` runs one tick at start + seconds."""

    def __init__(self, config: str = CONFIG, start: float = 1_700_006_400.0) -> None:
        # start is 2023-11-15 00:00 UTC: inside `nights`, outside `office`
        self.policy = Policy.of(AlertmanagerConfig.model_validate(yaml.safe_load(config)))
        self.clock = VirtualClock(start)
        self.start = start
        self.state = DispatchState()
        self.silences: list[Silence] = []
        self.wake: int | None = None

    def at(self, seconds: float, *alerts: AlertRecord) -> list[Notification]:
        self.clock.advance(self.start + seconds - self.clock.now())
        now_ms = round(self.clock.now() * 1000)
        done = step(self.policy, self.state, list(alerts), silences=self.silences, now_ms=now_ms)
        self.state, self.wake = done.state, done.wake_at_ms
        return list(done.notifications)

    def alert(self, started: float = 0, ends: float = 3600, **labels: str) -> AlertRecord:
        """An alert that started `started` s after the flight began and ends at `ends`."""
        begin, end = round((self.start + started) * 1000), round((self.start + ends) * 1000)
        return AlertRecord(make_labels(labels), (), begin, end)


def _summary(notes: list[Notification]) -> list[tuple[str, int, list[tuple[str, Status]]]]:
    return [
        (n.receiver, n.sequence, [(dict(a.labels)["alertname"], a.status) for a in n.alerts])
        for n in notes
    ]


def test_group_waits_then_flushes_every_group_interval_only_on_change() -> None:
    f = Flight()
    a = f.alert(alertname="Down", instance="1")
    b = f.alert(started=10, alertname="Down", instance="2")
    assert f.at(0, a) == []
    assert f.wake == round((f.start + 30) * 1000)  # group_wait 30s
    assert f.at(10, b) == []  # joins the waiting group
    first = f.at(30)
    assert _summary(first) == [("team", 1, [("Down", Status.FIRING), ("Down", Status.FIRING)])]
    assert first[0].group_key == '{}:{alertname="Down"}'
    assert first[0].alerts[0].ends_at_ms is None  # firing alerts carry no end
    c = f.alert(started=60, alertname="Down", instance="3")
    assert f.at(60, c) == []  # not before the next group_interval
    assert f.at(329) == []
    assert [len(n.alerts) for n in f.at(330)] == [3]
    assert f.at(630) == []  # nothing changed: the log says the receiver knows


def test_an_old_alert_flushes_a_new_group_at_once() -> None:
    f = Flight()
    assert len(f.at(120, f.alert(started=0, alertname="Old"))) == 1


def test_repeat_interval_resends_after_four_hours() -> None:
    f = Flight()
    f.at(0, f.alert(ends=10**6, alertname="Down"))
    assert len(f.at(30)) == 1
    flushes = [30 + 300 * k for k in range(1, 50)]
    sent = [t for t in flushes if f.at(t)]
    # logged at 30 s; resent at the first flush strictly after 30 s + 4 h
    assert sent == [14730]


def test_resolved_alert_is_notified_then_forgotten() -> None:
    f = Flight()
    f.at(0, f.alert(alertname="Down", ends=3600))
    f.at(30)
    resolved = f.at(330, f.alert(alertname="Down", ends=300))  # resolved at 300 s
    assert _summary(resolved) == [("team", 2, [("Down", Status.RESOLVED)])]
    assert resolved[0].alerts[0].ends_at_ms == round((f.start + 300) * 1000)
    assert f.state.groups == {} and f.wake is None


def test_send_resolved_false_waits_for_a_firing_change() -> None:
    f = Flight()

    def pair(ends: float, **labels: str) -> list[AlertRecord]:
        return [f.alert(instance=i, ends=e, **labels) for i, e in (("1", 10**6), ("2", ends))]

    team, pager = {"alertname": "Team"}, {"alertname": "Page", "severity": "page"}
    assert f.at(0, *pair(10**6, **team), *pair(10**6, **pager)) == []
    # continue: true, but no later sibling matches: the page goes to the pager only
    assert sorted(n.receiver for n in f.at(30)) == ["pager", "team"]
    # one of each pair resolves: team's webhook sends resolved (default), pager's does not
    assert [n.receiver for n in f.at(330, *pair(100, **team), *pair(100, **pager))] == ["team"]


def test_inhibited_alert_is_not_notified_while_its_source_fires() -> None:
    f = Flight()
    crit = f.alert(alertname="Disk", cluster="eu", severity="critical", ends=600)
    warn = f.alert(alertname="Latency", cluster="eu", severity="warning", ends=10**6)
    other = f.alert(alertname="Errors", cluster="us", severity="warning", ends=10**6)
    f.at(0, crit, warn, other)
    sent = f.at(30)
    assert sorted(dict(n.group_labels)["alertname"] for n in sent) == ["Disk", "Errors"]
    # once the source resolved, the target is told at its group's next flush
    assert "Latency" in [dict(n.group_labels)["alertname"] for n in f.at(630)]


def test_an_alert_does_not_inhibit_itself() -> None:
    f = Flight()
    f.at(0, f.alert(alertname="Peer", kind="peer", ends=10**6))
    assert len(f.at(30)) == 1


def test_silence_mutes_while_active_only() -> None:
    f = Flight()
    silence = Silence(
        id="s1",
        matchers=(parse_matcher('alertname="Down"'),),
        starts_at=f.start + 10,
        ends_at=f.start + 400,
        created_by="me",
        comment="deploy",
        updated_at=f.start,
    )
    f.silences = [silence]
    f.at(0, f.alert(alertname="Down", ends=10**6))
    assert f.at(30) == []  # active
    assert f.at(330) == []
    assert len(f.at(630)) == 1  # expired at 400 s


def test_pending_silence_does_not_mute() -> None:
    f = Flight()
    f.silences = [
        Silence("s", (parse_matcher('alertname="Down"'),), f.start + 60, f.start + 99, "", "", 0)
    ]
    f.at(0, f.alert(alertname="Down", ends=10**6))
    assert len(f.at(30)) == 1


def test_mute_and_active_time_intervals() -> None:
    f = Flight()  # starts at 00:00 UTC: in `nights`, not in `office`
    quiet = f.alert(alertname="Quiet", quiet="nights", ends=10**6)
    office = f.alert(alertname="Office", office="hours", ends=10**6)
    plain = f.alert(alertname="Plain", ends=10**6)
    f.at(0, quiet, office, plain)
    assert [dict(n.group_labels)["alertname"] for n in f.at(30)] == ["Plain"]
    # at 09:00:30 the night is over and the office is open (Plain: its 4 h repeat)
    later = sorted(dict(n.group_labels)["alertname"] for n in f.at(9 * 3600 + 30))
    assert later == ["Office", "Plain", "Quiet"]


def test_groups_split_by_group_by() -> None:
    f = Flight()
    alerts = [
        f.alert(alertname="Page", severity="page", cluster=c, ends=10**6) for c in ("eu", "us")
    ]
    f.at(0, *alerts)
    pager = [n for n in f.at(30) if n.receiver == "pager"]
    assert sorted(n.group_key for n in pager) == [
        '{}/{severity="page"}:{alertname="Page", cluster="eu"}',
        '{}/{severity="page"}:{alertname="Page", cluster="us"}',
    ]


def test_state_is_not_mutated() -> None:
    f = Flight()
    f.at(0, f.alert(alertname="Down"))
    before: dict[str, Any] = dict(f.state.groups)
    step(f.policy, f.state, [], silences=[], now_ms=round((f.start + 30) * 1000))
    assert dict(f.state.groups) == before

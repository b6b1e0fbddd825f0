"""The notification log survives a restart: a dispatcher that restores it goes on with the
next sequence and keeps repeat_interval; the outbox persists it with its rows in one
transaction (a failing submit persists neither and is done again)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.delivery import Outbox
from safeship.alerting.dispatcher import Dispatcher
from safeship.alerting.evaluator import Alert, State
from safeship.alerting.receivers import Receivers
from safeship.core.labels import make_labels
from safeship.store.repository import Store
from safeship.testing import FakeClock

CONFIG = """
route: {receiver: hook, group_wait: 0s, group_interval: 10s, repeat_interval: 1h,
        group_by: [alertname]}
receivers: [{name: hook, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]
"""
T0 = 1_700_000_000.0


def alert(name: str, svc: str) -> Alert:
    labels = make_labels({"alertname": name, "svc": svc})
    return Alert(labels, (), State.FIRING, 1.0, int(T0 * 1000), int(T0 * 1000))


def parts(store: Store) -> tuple[Dispatcher, Outbox]:
    document = yaml.safe_load(CONFIG)
    dispatcher = Dispatcher(AlertmanagerConfig.model_validate(document))
    receivers = Receivers.model_validate(document).by_name()
    return dispatcher, Outbox(store, receivers, journal=dispatcher.logged)


def restored(store: Store, now: float) -> Dispatcher:
    dispatcher, _ = parts(store)
    with store.transaction() as tx:
        dispatcher.restore(tx.notification_log(since_ms=0), now=now)
    return dispatcher


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=FakeClock(T0))


def test_sequences_go_on_and_nothing_is_repeated_after_a_restart(store: Store) -> None:
    dispatcher, outbox = parts(store)
    outbox.submit(dispatcher.tick([alert("Down", "a")], now=T0, interval_s=1))
    outbox.submit(dispatcher.tick([alert("Down", "b")], now=T0 + 10, interval_s=1))
    assert sorted(r.sequence for r in store.notifications()) == [1, 2]

    again = restored(store, T0 + 20)
    same = [alert("Down", "a"), alert("Down", "b")]
    assert again.tick(same, now=T0 + 20, interval_s=1) == []  # told already, repeat in 1h
    (third,) = again.tick([*same, alert("Down", "c")], now=T0 + 30, interval_s=1)
    assert third.sequence == 3 and len(third.alerts) == 3
    (repeat,) = again.tick(same, now=T0 + 3600 + 40, interval_s=1)
    assert repeat.sequence == 4


def test_a_failed_submit_is_done_again(store: Store) -> None:
    dispatcher, outbox = parts(store)

    class Down:
        def submit(self, notifications: object) -> None:
            raise RuntimeError("the database is down")

    rules = FakeRules([alert("Down", "a")])
    with pytest.raises(RuntimeError):
        dispatcher.poll(rules, Down(), now=T0)  # type: ignore[arg-type]
    with store.transaction() as tx:
        assert tx.notification_log(since_ms=0) == []
    dispatcher.poll(rules, outbox, now=T0 + 1)  # type: ignore[arg-type]
    assert [r.sequence for r in store.notifications()] == [1]
    with store.transaction() as tx:
        assert [r.sequence for r in tx.notification_log(since_ms=0)] == [1]


class FakeRules:
    """The part of a RuleManager the dispatcher reads: one group evaluated once."""

    def __init__(self, alerts: list[Alert]) -> None:
        self._alerts = alerts

    def groups(self) -> list[FakeGroup]:
        return [FakeGroup(self._alerts)]


class FakeGroup:
    last_evaluation_s = T0
    interval_s = 1.0

    def __init__(self, alerts: list[Alert]) -> None:
        rule = SimpleNamespace(alerts=dict(enumerate(alerts)))
        self.state = SimpleNamespace(alerts={"r": rule})

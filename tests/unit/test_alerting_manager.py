"""The rule manager on a fake clock: schedules groups, and keeps alert state across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.alerting.evaluator import State
from safeship.alerting.manager import AlertMemory, LoadedGroup, RuleManager, load_groups
from safeship.alerting.rules import RuleGroup
from safeship.core.errors import ConfigError
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock

X = {"__name__": "x", "job": "api"}
GROUP = RuleGroup.model_validate(
    {
        "name": "g",
        "interval": "1m",
        "rules": [
            {"record": "job:x", "expr": "sum by (job) (x)"},
            {
                "alert": "High",
                "expr": "job:x > 1",
                "for": "2m",
                "labels": {"severity": "page"},
                "annotations": {"summary": "{{ $labels.job }} at {{ $value }}"},
            },
        ],
    }
)


def _manager(
    clock: FakeClock, memory: AlertMemory, group: RuleGroup = GROUP, **options: object
) -> tuple[RuleManager, SeriesStore]:
    """A freshly started manager: an empty series store unless given one (as the WAL
    replays it), the alert state from `memory`."""
    store = options.pop("store", None) or SeriesStore()
    assert isinstance(store, SeriesStore)
    loaded = [LoadedGroup(group, "rules.yml")]
    grace = float(options.pop("grace", 600.0))  # type: ignore[arg-type]
    manager = RuleManager(
        loaded,
        engine=Engine(store),
        store=store,
        clock=clock,
        memory=memory,
        for_grace_period_s=grace,
    )
    return manager, store


def _tick(started: tuple[RuleManager, SeriesStore], clock: FakeClock, value: float) -> float:
    """A scrape of x = `value` now, then whatever evaluation is due."""
    manager, store = started
    store.append(X, round(clock.now() * 1000), value)
    return manager.evaluate_due()


def _states(started: tuple[RuleManager, SeriesStore]) -> list[str]:
    return [a.state.value for a in started[0].alerts()]


def test_alert_goes_pending_then_firing_across_a_restart_then_resolves(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    clock = FakeClock(1_700_000_000.0)
    first = _manager(clock, AlertMemory.open(url))
    assert _tick(first, clock, 5.0) == 60.0
    assert _states(first) == ["pending"]
    (pending,) = first[0].alerts()
    assert dict(pending.labels) == {"alertname": "High", "job": "api", "severity": "page"}
    assert dict(pending.annotations) == {"summary": "api at 5"}

    clock.advance(60)  # the process restarts: its samples replayed, state read back
    second = _manager(clock, AlertMemory.open(url), grace=30.0, store=first[1])
    assert _states(second) == ["pending"]
    _tick(second, clock, 5.0)
    (moved,) = second[0].alerts()  # the 1m down does not count as pending
    assert moved.active_at_ms == pending.active_at_ms + 60_000
    clock.advance(60)
    _tick(second, clock, 5.0)
    assert _states(second) == ["pending"]
    clock.advance(60)
    _tick(second, clock, 5.0)
    (fired,) = second[0].alerts()
    assert fired.state is State.FIRING and fired.active_at_ms == moved.active_at_ms
    assert fired.fired_at_ms == round(clock.now() * 1000)

    clock.advance(60)
    _tick(second, clock, 0.0)
    assert second[0].alerts() == []
    third, _ = _manager(clock, AlertMemory.open(url))
    (status,) = third.groups()
    (resolved,) = [a for rs in status.state.alerts.values() for a in rs.alerts.values()]
    assert resolved.state is State.INACTIVE
    assert resolved.resolved_at_ms == round(clock.now() * 1000)


def test_a_pending_alert_waits_its_whole_for_after_a_restart_within_grace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    clock = FakeClock(1_700_000_000.0)
    first = _manager(clock, AlertMemory.open(url))
    _tick(first, clock, 5.0)
    clock.advance(60)
    _tick(first, clock, 5.0)  # 1m of the 2m `for`; then down for 5m, which `for` outlasts
    clock.advance(5 * 60)
    second = _manager(clock, AlertMemory.open(url), store=first[1])
    _tick(second, clock, 5.0)
    (restarted,) = second[0].alerts()
    assert restarted.state is State.PENDING
    assert restarted.active_at_ms == round(clock.now() * 1000)  # `for` < the 10m grace


def test_a_firing_alert_keeps_firing_and_its_active_at_across_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    clock = FakeClock(1_700_000_000.0)
    first = _manager(clock, AlertMemory.open(url))
    for _ in range(3):
        _tick(first, clock, 5.0)
        clock.advance(60)
    (fired,) = first[0].alerts()
    second = _manager(clock, AlertMemory.open(url), store=first[1])
    second[0].evaluate_due()  # before any new scrape: the replayed samples still hold
    (kept,) = second[0].alerts()
    assert kept.state is State.FIRING and kept.active_at_ms == fired.active_at_ms


def test_keep_firing_for_survives_a_restart(tmp_path: Path) -> None:
    group = RuleGroup.model_validate(
        {"name": "k", "rules": [{"alert": "Up", "expr": "x > 1", "keep_firing_for": "5m"}]}
    )
    url = f"sqlite:///{tmp_path}/state.db"
    clock = FakeClock()
    first = _manager(clock, AlertMemory.open(url), group)
    _tick(first, clock, 5.0)
    assert _states(first) == ["firing"]
    clock.advance(60)
    first[1].mark_stale(X, round(clock.now() * 1000))  # the target went away
    first[0].evaluate_due()
    (kept,) = first[0].alerts()
    assert kept.keep_firing_since_ms == round(clock.now() * 1000)

    clock.advance(4 * 60)  # restart 4m into the 5m; no samples any more
    second = _manager(clock, AlertMemory.open(url), group)
    second[0].evaluate_due()
    assert _states(second) == ["firing"]
    clock.advance(60)
    second[0].evaluate_due()
    assert second[0].alerts() == []


@pytest.mark.parametrize(
    ("interval", "default", "waits"),
    [({"interval": "15s"}, 60.0, [15.0, 15.0]), ({}, 30.0, [30.0, 30.0]), ({}, 60.0, [60.0])],
)
def test_each_group_runs_on_its_own_interval(
    interval: dict[str, str], default: float, waits: list[float]
) -> None:
    group = RuleGroup.model_validate(
        {"name": "i", "rules": [{"record": "r", "expr": "1"}]} | interval
    )
    clock = FakeClock()
    store = SeriesStore()
    engine = Engine(store)
    loaded = [LoadedGroup(group, "a.yml")]
    manager = RuleManager(
        loaded, engine=engine, store=store, clock=clock, default_interval_s=default
    )
    for wait in waits:
        assert manager.evaluate_due() == wait
        assert manager.evaluate_due() == wait  # not due again until the wait has passed
        clock.advance(wait)
    (status,) = manager.groups()
    assert status.last_evaluation_s == clock.now() - waits[-1]
    assert status.errors == ()


def test_a_failing_rule_is_reported_and_the_others_still_run() -> None:
    group = RuleGroup.model_validate(
        {
            "name": "e",
            "rules": [
                {"record": "dup", "expr": '{__name__=~"x|y"}'},  # same labels once renamed
                {"alert": "Always", "expr": "vector(1)"},
            ],
        }
    )
    clock = FakeClock()
    store = SeriesStore()
    for name in ("x", "y"):
        store.append({"__name__": name, "job": "api"}, round(clock.now() * 1000), 1.0)
    loaded = [LoadedGroup(group, "e.yml")]
    manager = RuleManager(loaded, engine=Engine(store), store=store, clock=clock)
    manager.evaluate_due()
    (status,) = manager.groups()
    assert "same labelset" in (status.rule_error(0) or "")
    assert status.rule_error(1) is None
    assert [a.state.value for a in manager.alerts()] == ["firing"]


def test_rule_files_are_globbed_and_bad_ones_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(
        "groups:\n  - name: a\n    rules:\n      - record: r\n        expr: '1'\n"
    )
    (tmp_path / "b.yml").write_text("groups:\n  - name: b\n    rules: []\n")
    found = load_groups([str(tmp_path / "*.yml")])
    assert [(g.group.name, Path(g.file).name) for g in found] == [("a", "a.yml"), ("b", "b.yml")]
    (tmp_path / "c.yml").write_text(
        "groups:\n  - name: c\n    rules:\n      - alert: A\n        expr: 'up =='\n"
    )
    with pytest.raises(ConfigError) as error:
        load_groups([str(tmp_path / "*.yml")])
    assert "c.yml:5" in str(error.value) and "expr" in str(error.value)

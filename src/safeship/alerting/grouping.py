"""Aggregation groups as a pure state machine: (policy, state, alerts, silences, now) ->
(new state, notifications due, next wake-up).

Where it sits: "alerts ─▶ routes ─▶ notifications" (DESIGN §2); alerting/dispatcher.py drives
it on a clock and hands the notifications to delivery. Semantics of Alertmanager's
dispatch/dispatch.go and notification pipeline:

- an alert goes to every route the tree gives (alerting/routing.py), into the group of its
  group labels; a new group first flushes `group_wait` after it was created (at once when
  the alert started more than `group_wait` ago), then every `group_interval`;
- a flush drops alerts that are inhibited (alerting/inhibition.py) or silenced
  (alerting/silences.py), and all of them while the route is outside its active time
  intervals or inside a mute one (alerting/time_intervals.py);
- what is left is notified only when the notification log says so (`needs_update`, the
  DedupStage): firing alerts the receiver was not told about, all alerts resolved, newly
  resolved ones if the receiver sends resolved notifications, or `repeat_interval` passed;
- resolved alerts leave the group after the flush; an empty group is gone.

A notification carries firing and resolved alerts alike: delivery drops resolved ones for
integrations with `send_resolved: false`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.inhibition import Inhibitor, InhibitRule
from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.alerting.routing import Route, build_tree
from safeship.alerting.silences import Silence, silenced
from safeship.alerting.time_intervals import TimeInterval, any_contains
from safeship.core.labels import Labels

_MEMO_LIMIT = 200_000
LOG_RETENTION_MS = 120 * 3600 * 1000  # Alertmanager's --data.retention: notification log entries
_FNV_OFFSET, _FNV_PRIME, _MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


@functools.lru_cache(maxsize=100_000)
def fingerprint(labels: Labels) -> str:
    """Prometheus' LabelSet fingerprint (FNV-1a 64 over sorted name, 0xff, value, 0xff)."""
    h = _FNV_OFFSET
    for name, value in labels:
        for part in (name.encode(), b"\xff", value.encode(), b"\xff"):
            for byte in part:
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


@dataclass(frozen=True)
class AlertRecord:
    """An alert as Alertmanager receives it: resolved once `ends_at_ms` is not after now."""

    labels: Labels
    annotations: Labels
    starts_at_ms: int
    ends_at_ms: int
    generator_url: str = ""
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    def resolved(self, now_ms: int) -> bool:
        return self.ends_at_ms <= now_ms


@dataclass(frozen=True)
class Group:
    key: str
    route_index: int
    labels: Labels
    alerts: Mapping[str, AlertRecord]  # by fingerprint
    next_flush_ms: int


@dataclass(frozen=True)
class LogEntry:
    """What the receiver of a group was last told (Alertmanager's notification log)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    at_ms: int
    sequence: int


@dataclass(frozen=True)
class DispatchState:
    groups: Mapping[str, Group] = field(default_factory=dict)
    log: Mapping[str, LogEntry] = field(default_factory=dict)  # by group key
    alerts: Mapping[str, AlertRecord] = field(default_factory=dict)  # all known, by fingerprint


Placement = tuple[Route, Labels, str]  # a route, the alert's group labels in it, the group key


@dataclass(frozen=True)
class Policy:
    """What a configuration decides, compiled once."""

    tree: Route
    routes: Mapping[int, Route]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    sends_resolved: Mapping[str, bool] = field(default_factory=dict)
    # label set -> its (route, group labels, group key): routing depends on labels only, and
    # alerts are re-sent after every evaluation
    _memo: dict[Labels, tuple[Placement, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def placements(self, labels: Labels) -> tuple[Placement, ...]:
        """The groups an alert with `labels` belongs to, one per route it goes to."""
        found = self._memo.get(labels)
        if found is None:
            found = tuple(
                (route, group, route.group_key(group))
                for route in self.tree.match(dict(labels))
                for group in (route.group_labels(labels),)
            )
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[labels] = found
        return found

    @classmethod
    def of(cls, config: AlertmanagerConfig) -> Policy:
        assert config.route is not None  # a loaded config always has one
        tree = build_tree(config.route)
        return cls(
            tree=tree,
            routes={r.index: r for r in _walk(tree)},
            inhibit_rules=tuple(InhibitRule.of(r) for r in config.inhibit_rules),
            intervals=config.intervals(),
            sends_resolved={r.name: r.sends_resolved() for r in config.receivers},
        )


def _walk(route: Route) -> Iterable[Route]:
    yield route
    for child in route.children:
        yield from _walk(child)


@dataclass(frozen=True)
class Step:
    state: DispatchState
    notifications: tuple[Notification, ...]
    wake_at_ms: int | None  # the next flush due; None when there is no group


def step(
    policy: Policy,
    state: DispatchState,
    alerts: Sequence[AlertRecord],
    *,
    silences: Sequence[Silence],
    now_ms: int,
) -> Step:
    """Take in `alerts` (new or updated), then flush every group that is due at `now_ms`."""
    return flush_due(policy, receive(policy, state, alerts, now_ms), silences, now_ms)


def receive(
    policy: Policy, state: DispatchState, alerts: Sequence[AlertRecord], now_ms: int
) -> DispatchState:
    groups, known = dict(state.groups), dict(state.alerts)
    members: dict[str, dict[str, AlertRecord]] = {}  # the groups changed, copied once
    for alert in alerts:
        alert = _merged(known.get(alert.fingerprint), alert, now_ms)
        known[alert.fingerprint] = alert
        for route, group_labels, key in policy.placements(alert.labels):
            if key not in groups:
                wait_ms = round(route.options.group_wait_s * 1000)
                due = now_ms if alert.starts_at_ms + wait_ms < now_ms else now_ms + wait_ms
                groups[key] = Group(key, route.index, group_labels, {}, due)
            if key not in members:
                members[key] = dict(groups[key].alerts)
            members[key][alert.fingerprint] = alert
    for key, held in members.items():
        groups[key] = replace(groups[key], alerts=held)
    return replace(state, groups=groups, alerts=known)


def _merged(old: AlertRecord | None, new: AlertRecord, now_ms: int) -> AlertRecord:
    """A re-sent alert keeps its first start while it has not resolved in between."""
    if old is None or old.resolved(now_ms) or old.starts_at_ms >= new.starts_at_ms:
        return new
    return replace(new, starts_at_ms=old.starts_at_ms)


def flush_due(
    policy: Policy, state: DispatchState, silences: Sequence[Silence], now_ms: int
) -> Step:
    due = [g for g in state.groups.values() if g.next_flush_ms <= now_ms]
    if not due:
        return Step(state, (), min((g.next_flush_ms for g in state.groups.values()), default=None))
    groups, log = dict(state.groups), dict(state.log)
    firing = (dict(a.labels) for a in state.alerts.values() if not a.resolved(now_ms))
    inhibitor = Inhibitor(policy.inhibit_rules, firing if policy.inhibit_rules else ())
    sent: list[Notification] = []
    for group in due:
        key = group.key
        route = policy.routes[group.route_index]
        kept = _unmuted(policy, route, group, inhibitor, silences, now_ms)
        if kept:
            notification = _notify(policy, route, group, kept, log.get(key), now_ms)
            if notification is not None:
                sent.append(notification)
                log[key] = _logged(notification, now_ms)
        remaining = {fp: a for fp, a in group.alerts.items() if not a.resolved(now_ms)}
        if remaining:
            interval_ms = round(route.options.group_interval_s * 1000)
            groups[key] = replace(group, alerts=remaining, next_flush_ms=now_ms + interval_ms)
        else:
            del groups[key]
    new_state = DispatchState(groups, _pruned_log(log, now_ms), _live(state.alerts, groups, now_ms))
    wake = min((g.next_flush_ms for g in groups.values()), default=None)
    return Step(new_state, tuple(sent), wake)


def _unmuted(
    policy: Policy,
    route: Route,
    group: Group,
    inhibitor: Inhibitor,
    silences: Sequence[Silence],
    now_ms: int,
) -> list[AlertRecord]:
    now_s = now_ms / 1000
    active = [i for name in route.options.active_time_intervals for i in policy.intervals[name]]
    muting = [i for name in route.options.mute_time_intervals for i in policy.intervals[name]]
    if (active and not any_contains(active, now_s)) or any_contains(muting, now_s):
        return []
    kept = []
    for alert in group.alerts.values():
        labels = dict(alert.labels)
        if inhibitor.mutes(labels):
            continue
        if not silenced(labels, silences, now_s):
            kept.append(alert)
    return kept


def _notify(
    policy: Policy,
    route: Route,
    group: Group,
    alerts: list[AlertRecord],
    entry: LogEntry | None,
    now_ms: int,
) -> Notification | None:
    firing = frozenset(a.fingerprint for a in alerts if not a.resolved(now_ms))
    resolved = frozenset(a.fingerprint for a in alerts if a.resolved(now_ms))
    receiver = route.options.receiver
    repeat_ms = round(route.options.repeat_interval_s * 1000)
    sends_resolved = policy.sends_resolved.get(receiver, True)
    if not needs_update(entry, firing, resolved, repeat_ms, now_ms, sends_resolved):
        return None
    ordered = sorted(alerts, key=_alert_order)
    return Notification(
        receiver=receiver,
        group_key=group.key,
        group_labels=group.labels,
        alerts=tuple(_notified(a, now_ms) for a in ordered),
        sequence=entry.sequence + 1 if entry is not None else 1,
    )


def needs_update(
    entry: LogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    repeat_ms: int,
    now_ms: int,
    sends_resolved: bool,
) -> bool:
    """Alertmanager's DedupStage: is this flush worth telling the receiver?"""
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        return bool(entry.firing)
    if sends_resolved and not resolved <= entry.resolved:
        return True
    return entry.at_ms < now_ms - repeat_ms


def _logged(notification: Notification, now_ms: int) -> LogEntry:
    firing = frozenset(a.fingerprint for a in notification.alerts if a.status is Status.FIRING)
    resolved = frozenset(a.fingerprint for a in notification.alerts) - firing
    return LogEntry(firing, resolved, now_ms, notification.sequence)


def _notified(alert: AlertRecord, now_ms: int) -> NotifiedAlert:
    done = alert.resolved(now_ms)
    return NotifiedAlert(
        labels=alert.labels,
        annotations=alert.annotations,
        status=Status.RESOLVED if done else Status.FIRING,
        starts_at_ms=alert.starts_at_ms,
        ends_at_ms=alert.ends_at_ms if done else None,
        generator_url=alert.generator_url,
        fingerprint=alert.fingerprint,
    )


def _alert_order(alert: AlertRecord) -> tuple[object, ...]:
    """Alertmanager's AlertSlice order: by job, then instance (present first), then labels."""
    labels = dict(alert.labels)
    key: list[object] = []
    for name in ("job", "instance"):
        key += [name not in labels, labels.get(name, "")]
    return (*key, alert.labels)


def _pruned_log(log: dict[str, LogEntry], now_ms: int) -> dict[str, LogEntry]:
    return {k: e for k, e in log.items() if now_ms - e.at_ms <= LOG_RETENTION_MS}


def _live(
    alerts: Mapping[str, AlertRecord], groups: Mapping[str, Group], now_ms: int
) -> dict[str, AlertRecord]:
    """Known alerts still firing or still held by a group (inhibition looks at these)."""
    held = {fp for g in groups.values() for fp in g.alerts}
    return {fp: a for fp, a in alerts.items() if fp in held or not a.resolved(now_ms)}

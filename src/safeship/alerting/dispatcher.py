"""The dispatcher: holds the grouping state and turns the rule manager's alerts into the
notifications due, tick by tick.

Where it sits: "alert rules ─▶ alerts ─▶ routes ─▶ notifications" (DESIGN §2), at the edge:
the decisions are pure (alerting/grouping.py and below); this class keeps their state and
converts alerts the way Prometheus sends them to Alertmanager: a firing alert starts when it
fired and is valid until now + 4 * max(evaluation interval, resend delay); a resolved one
(kept 15 minutes by the evaluator) ends when it resolved; pending alerts are not sent.
The notifications go to delivery (a `NotificationSink`, alerting/notification.py).

What must survive a restart is the notification log (per group key: the last sequence, the
alerts told firing and resolved, when): `logged` gives the entries of the notifications just
handed over, for the outbox to persist with them in one transaction (store/notification_log.py),
and `restore` starts from them again. The groups themselves are rebuilt from the rule
manager's alerts, whose state is persisted already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.evaluator import Alert, State
from safeship.alerting.grouping import (
    LOG_RETENTION_MS,
    AlertRecord,
    DispatchState,
    LogEntry,
    Policy,
    step,
)
from safeship.alerting.manager import RuleManager
from safeship.alerting.notification import Notification, NotificationSink
from safeship.alerting.silences import Silence
from safeship.core.clock import Clock
from safeship.store.notification_log import LogRecord

RESEND_DELAY_S = 60.0  # Prometheus' --rules.alert.resend-delay
POLL_S = 0.2  # how soon after an evaluation its alerts are taken in (group_wait 0: sent)


def to_record(alert: Alert, *, now_ms: int, valid_for_ms: int) -> AlertRecord | None:
    """The alert as Prometheus would send it, or None when it is not sent (pending)."""
    if alert.state is State.PENDING or (
        alert.state is State.INACTIVE and alert.resolved_at_ms is None
    ):
        return None
    starts = alert.fired_at_ms if alert.fired_at_ms is not None else alert.active_at_ms
    ends = alert.resolved_at_ms if alert.state is State.INACTIVE else now_ms + valid_for_ms
    assert ends is not None
    return AlertRecord(alert.labels, alert.annotations, starts, ends)


class Dispatcher:
    """Routing, grouping, inhibition and silences over one Alertmanager configuration."""

    def __init__(
        self,
        config: AlertmanagerConfig,
        *,
        silences: Callable[[], Sequence[Silence]] = list,
        resend_delay_s: float = RESEND_DELAY_S,
    ) -> None:
        self._policy = Policy.of(config)
        self._silences = silences
        self._resend_delay_s = resend_delay_s
        self._state = DispatchState()
        self._wake_at_ms: int | None = None
        self._seen: tuple[float | None, ...] = ()  # the groups' last evaluation times

    @property
    def state(self) -> DispatchState:
        return self._state

    def restore(self, records: Iterable[LogRecord], *, now: float) -> None:
        """Start again from a persisted notification log (groups are rebuilt from alerts)."""
        oldest = round(now * 1000) - LOG_RETENTION_MS
        log = {
            r.group_key: LogEntry(frozenset(r.firing), frozenset(r.resolved), r.at_ms, r.sequence)
            for r in records
            if r.at_ms >= oldest
        }
        self._state = DispatchState(log=log)
        self._wake_at_ms, self._seen = None, ()

    def logged(self, notifications: Iterable[Notification]) -> list[LogRecord]:
        """The notification log entries of `notifications` (just returned by `tick`; others
        submitted to the same outbox, an incident's escalation, have none)."""
        log = self._state.log
        entries = {n.group_key: log[n.group_key] for n in notifications if n.group_key in log}
        return [
            LogRecord(
                group_key=key,
                sequence=e.sequence,
                firing=tuple(sorted(e.firing)),
                resolved=tuple(sorted(e.resolved)),
                at_ms=e.at_ms,
            )
            for key, e in entries.items()
        ]

    def tick(self, alerts: Iterable[Alert], *, now: float, interval_s: float) -> list[Notification]:
        """Take the alerts of an evaluation (every state, as the rule manager keeps them)
        and return the notifications due at `now`."""
        now_ms = round(now * 1000)
        valid_ms = round(4 * max(interval_s, self._resend_delay_s) * 1000)
        records = [r for a in alerts if (r := to_record(a, now_ms=now_ms, valid_for_ms=valid_ms))]
        if not records and (self._wake_at_ms is None or self._wake_at_ms > now_ms):
            return []  # nothing new, nothing due: no need to read the silences
        done = step(self._policy, self._state, records, silences=self._silences(), now_ms=now_ms)
        self._state, self._wake_at_ms = done.state, done.wake_at_ms
        return list(done.notifications)

    def seconds_until_due(self, now: float) -> float | None:
        """How long until the next group flush, None when no group is waiting."""
        if self._wake_at_ms is None:
            return None
        return max(0.0, self._wake_at_ms / 1000 - now)

    async def run(
        self, rules: RuleManager, sink: NotificationSink, *, clock: Clock, poll_s: float = POLL_S
    ) -> None:
        """Forever: take each new evaluation's alerts, hand what is due to `sink`."""
        while True:
            await clock.sleep(self.poll(rules, sink, now=clock.now(), poll_s=poll_s))

    def poll(
        self, rules: RuleManager, sink: NotificationSink, *, now: float, poll_s: float = POLL_S
    ) -> float:
        """One round: the alerts of evaluations since the last round (if any), the
        notifications due handed to `sink`; seconds until the next round. When the sink
        fails (the database is down) the round is undone, to be done again next time."""
        evaluated = tuple(g.last_evaluation_s for g in rules.groups())
        alerts = every_alert(rules) if evaluated != self._seen else []
        before = (self._state, self._wake_at_ms, self._seen)
        self._seen = evaluated
        interval = min((g.interval_s for g in rules.groups()), default=60.0)
        notifications = self.tick(alerts, now=now, interval_s=interval)
        if notifications:
            try:
                sink.submit(notifications)
            except Exception:
                self._state, self._wake_at_ms, self._seen = before
                raise
        due = self.seconds_until_due(now)
        return poll_s if due is None else min(poll_s, due)


def every_alert(rules: RuleManager) -> list[Alert]:
    """Every alert the rule manager keeps, resolved ones included (Prometheus sends those
    for 15 minutes after they resolve); `RuleManager.alerts()` leaves them out."""
    return [
        alert
        for group in rules.groups()
        for rule_state in group.state.alerts.values()
        for alert in rule_state.alerts.values()
    ]

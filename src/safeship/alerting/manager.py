"""The rule manager: every rule group evaluated on its interval, its alert state persisted.

Where it sits: "metric store ─▶ alert rules ─▶ alerts" (DESIGN §2), at the edge. The
decisions stay pure (alerting/evaluator.py through group.py); this module owns the clock,
the schedule and the state database. After each group evaluation its alerts are written
in one transaction (`alert_state`, migration 0004) and read back at start, so `for` and
`keep_firing_for` survive a restart of `safeship serve`.
"""

from __future__ import annotations

import glob
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine as Database
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError

from safeship.alerting.evaluator import Alert, RuleState, State
from safeship.alerting.for_state import FOR_GRACE_PERIOD_S, restored
from safeship.alerting.group import GroupState, PendingWrites, evaluate_group
from safeship.alerting.rule_files import load_rule_file
from safeship.alerting.rules import RuleGroup
from safeship.alerting.templates import Env
from safeship.core.clock import Clock
from safeship.core.labels import NAME, Labels, make_labels
from safeship.metrics.index import equal
from safeship.metrics.promql import Engine
from safeship.metrics.retention import labels_hash
from safeship.metrics.store import SeriesStore
from safeship.store.engine import create_engine
from safeship.store.migrate import upgrade_to_head

_TABLE = sa.Table(
    "alert_state",
    sa.MetaData(),
    sa.Column("group_key", sa.Text(), primary_key=True),
    sa.Column("rule_name", sa.Text(), primary_key=True),
    sa.Column("labels_hash", sa.String(64), primary_key=True),
    sa.Column("labels", sa.JSON()),
    sa.Column("annotations", sa.JSON()),
    sa.Column("state", sa.String(16)),
    sa.Column("active_at", sa.BigInteger()),
    sa.Column("fired_at", sa.BigInteger()),
    sa.Column("resolved_at", sa.BigInteger()),
    sa.Column("last_value", sa.Double()),
    sa.Column("keep_firing_since", sa.BigInteger()),
)
log = logging.getLogger(__name__)
FOR_OUTAGE_TOLERANCE_MS = 3600 * 1000  # Prometheus' --rules.alert.for-outage-tolerance
Saved = Sequence[tuple[str, Alert]]  # (rule name, alert) rows of one group


@dataclass(frozen=True)
class LoadedGroup:
    group: RuleGroup
    file: str

    @property
    def key(self) -> str:
        """Prometheus keys groups by file and name: two files may reuse a group name."""
        return f"{self.file};{self.group.name}"


def load_groups(patterns: Sequence[str]) -> list[LoadedGroup]:
    """Every group of every file the glob `patterns` match; ConfigError names file:line:key."""
    files = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    return [LoadedGroup(g, path) for path in files for g in load_rule_file(path).groups]


@dataclass
class GroupStatus:
    """One group as the API shows it: its state and how its last evaluation went."""

    loaded: LoadedGroup
    interval_s: float
    state: GroupState = field(default_factory=GroupState)
    errors: tuple[str, ...] = ()
    last_evaluation_s: float | None = None
    evaluation_time_s: float = 0.0
    due_s: float = 0.0

    def rule_error(self, index: int) -> str | None:
        """The error of rule `index` in the last evaluation (group.py prefixes group/rule)."""
        prefix = f"{self.loaded.group.name}/{self.loaded.group.rules[index].name}: "
        found = [e.removeprefix(prefix) for e in self.errors if e.startswith(prefix)]
        return found[0] if found else None


class AlertMemory:
    """The `alert_state` table of the state database, through SQLAlchemy Core."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @classmethod
    def open(cls, url: str) -> AlertMemory:
        database = create_engine(url)
        upgrade_to_head(database)
        return cls(database)

    def close(self) -> None:
        self._db.dispose()

    def load(self) -> dict[str, list[tuple[str, Alert]]]:
        """Group key -> its saved (rule name, alert) rows."""
        found: dict[str, list[tuple[str, Alert]]] = {}
        with self._db.connect() as conn:
            for row in conn.execute(sa.select(_TABLE)).mappings():
                found.setdefault(row["group_key"], []).append((row["rule_name"], _alert(row)))
        return found

    def save(self, loaded: LoadedGroup, state: GroupState) -> None:
        """Replace the group's rows with its current alerts, in one transaction."""
        rows = [
            _row(loaded.key, loaded.group.rules[index].name, alert)
            for index, rule_state in state.alerts.items()
            for alert in rule_state.alerts.values()
        ]
        with self._db.begin() as conn:
            conn.execute(sa.delete(_TABLE).where(_TABLE.c.group_key == loaded.key))
            if rows:
                conn.execute(sa.insert(_TABLE), rows)


def _row(key: str, rule: str, alert: Alert) -> dict[str, Any]:
    return {
        "group_key": key,
        "rule_name": rule,
        "labels_hash": labels_hash(alert.labels),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state.value,
        "active_at": alert.active_at_ms,
        "fired_at": alert.fired_at_ms,
        "resolved_at": alert.resolved_at_ms,
        "last_value": None if math.isnan(alert.value) else alert.value,
        "keep_firing_since": alert.keep_firing_since_ms,
    }


def _alert(row: RowMapping) -> Alert:
    value = row["last_value"]
    return Alert(
        labels=make_labels(row["labels"]),
        annotations=make_labels(row["annotations"]),
        state=State(row["state"]),
        value=math.nan if value is None else float(value),
        active_at_ms=row["active_at"],
        fired_at_ms=row["fired_at"],
        resolved_at_ms=row["resolved_at"],
        keep_firing_since_ms=row["keep_firing_since"],
    )


def restore(group: RuleGroup, saved: Saved) -> GroupState:
    """The group's alert state from saved rows; rows of rules no longer in the file are dropped."""
    alerts: dict[int, dict[Labels, Alert]] = {}
    for rule_name, alert in saved:
        index = _rule_index(group, rule_name, alert.labels)
        if index is not None:
            alerts.setdefault(index, {})[alert.labels] = alert
    return GroupState({i: RuleState(a) for i, a in alerts.items()})


def _rule_index(group: RuleGroup, name: str, labels: Labels) -> int | None:
    """The alerting rule named `name` whose static labels the alert carries (names may repeat)."""
    have = set(labels)
    for index, rule in enumerate(group.rules):
        static = {(k, v) for k, v in rule.labels.items() if "{{" not in v}
        if rule.alert == name and static <= have:
            return index
    return None


class RuleManager:
    """Evaluates each group when it is due; `run` loops forever on the injected clock."""

    def __init__(
        self,
        groups: Sequence[LoadedGroup],
        *,
        engine: Engine,
        store: SeriesStore,
        clock: Clock,
        default_interval_s: float = 60.0,
        memory: AlertMemory | None = None,
        for_grace_period_s: float = FOR_GRACE_PERIOD_S,
        template_env: Env | None = None,
    ) -> None:
        self._engine, self._store, self._clock, self._memory = engine, store, clock, memory
        self._template_env = template_env  # external URL and labels that templates see
        self._grace_ms = round(for_grace_period_s * 1000)
        self._groups = [GroupStatus(g, g.group.interval or default_interval_s) for g in groups]
        self._default_interval_s = default_interval_s
        saved = memory.load() if memory is not None else {}
        for status in self._groups:
            status.state = restore(status.loaded.group, saved.get(status.loaded.key, []))

    def groups(self) -> list[GroupStatus]:
        return list(self._groups)

    def alerts(self) -> list[Alert]:
        """Every pending or firing alert, group by group, rule by rule."""
        return [
            alert
            for status in self._groups
            for rule_state in status.state.alerts.values()
            for alert in rule_state.alerts.values()
            if alert.state is not State.INACTIVE
        ]

    def evaluate_due(self) -> float:
        """Evaluate every group that is due now; seconds until the next one is."""
        now = self._clock.now()
        due = [s for s in self._groups if s.due_s <= now]
        for status in due:
            if status.last_evaluation_s is None:  # the first since start: after the WAL replay
                status.state = self._restore_for_state(status, round(now * 1000))
        # one store write for all the groups due now (a merge each would cost more than
        # their queries); a group reading what an earlier one wrote gets it first
        pending = PendingWrites(self._store, round(now * 1000))
        try:
            for status in due:
                self._evaluate(status, now, pending)
        finally:
            pending.flush()
        next_due = min((s.due_s for s in self._groups), default=now + self._default_interval_s)
        return max(0.0, next_due - now)

    async def run(self) -> None:
        """Evaluate forever; a state database that fails is retried, not fatal."""
        while True:
            try:
                wait = self.evaluate_due()
            except SQLAlchemyError as exc:  # the group is not marked done: it runs again
                log.warning("cannot save alert state: %s", exc)
                wait = min((s.interval_s for s in self._groups), default=self._default_interval_s)
            await self._clock.sleep(wait)

    def _restore_for_state(self, status: GroupStatus, now_ms: int) -> GroupState:
        """Pending alerts as Prometheus restores them (alerting/for_state.py), with the last
        `ALERTS_FOR_STATE` sample before the restart as the moment the process went down."""
        rules = status.loaded.group.rules
        alerts = {
            index: RuleState(
                {
                    key: restored(
                        alert,
                        hold_ms=round(rules[index].for_ * 1000),
                        grace_ms=self._grace_ms,
                        down_at_ms=self._last_for_state(alert, now_ms),
                        now_ms=now_ms,
                    )
                    for key, alert in rule_state.alerts.items()
                }
            )
            for index, rule_state in status.state.alerts.items()
        }
        return replace(status.state, alerts=alerts)

    def _last_for_state(self, alert: Alert, now_ms: int) -> int | None:
        if alert.state is not State.PENDING:
            return None
        name = make_labels({**dict(alert.labels), NAME: "ALERTS_FOR_STATE"})
        matchers = [equal(k, v) for k, v in name]
        found = self._store.select(matchers, now_ms - FOR_OUTAGE_TOLERANCE_MS, now_ms)
        times = [
            int(s.timestamps[live][-1])
            for s in found
            if s.labels == name and (live := ~np.isnan(s.values)).any()
        ]
        return max(times, default=None)

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()

    def _evaluate(self, status: GroupStatus, now: float, pending: PendingWrites) -> None:
        started = time.perf_counter()  # a duration for the API, not a decision input
        result = evaluate_group(
            status.loaded.group,
            engine=self._engine,
            store=self._store,
            state=status.state,
            now_ms=round(now * 1000),
            pending=pending,
            env=self._template_env,
        )
        if self._memory is not None:
            self._memory.save(status.loaded, result.state)  # persist before showing
        status.state, status.errors = result.state, result.errors
        status.last_evaluation_s = now
        status.evaluation_time_s = time.perf_counter() - started
        # A fixed schedule like Prometheus's; a group that fell behind skips missed slots.
        following = status.due_s + status.interval_s
        status.due_s = following if following > now else now + status.interval_s

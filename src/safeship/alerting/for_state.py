"""Pending alerts after a restart: Prometheus' `RestoreForState` with its for-grace period.

Where it sits: the rule manager (alerting/manager.py) calls `restored` once per alert at a
group's first evaluation after start, with the time of the alert's last `ALERTS_FOR_STATE`
sample (replayed from the WAL) as the moment the process went down. Pure. Firing and
resolved alerts are kept as saved: the state database carries them through the restart.
A pending alert, as Prometheus 2.42 decides it:

- no `ALERTS_FOR_STATE` sample (no WAL, or down longer than the store keeps), or a `for`
  shorter than the grace period: pending again from now, for its whole `for`;
- `for` already elapsed when it went down: kept, it fires at once if still active;
- less than the grace period of `for` left: it may fire no sooner than `grace` after now;
- otherwise: `activeAt` moves by the downtime, which does not count as pending.
"""

from __future__ import annotations

from dataclasses import replace

from safeship.alerting.evaluator import Alert, State

FOR_GRACE_PERIOD_S = 600.0  # Prometheus' --rules.alert.for-grace-period default


def restored(
    alert: Alert, *, hold_ms: int, grace_ms: int, down_at_ms: int | None, now_ms: int
) -> Alert:
    """The alert's state for the first evaluation after a restart at `now_ms`."""
    if alert.state is not State.PENDING:
        return alert
    if down_at_ms is None or hold_ms < grace_ms:
        return replace(alert, active_at_ms=now_ms)
    remaining = hold_ms - (down_at_ms - alert.active_at_ms)
    if remaining <= 0:
        return alert
    if remaining < grace_ms:
        return replace(alert, active_at_ms=now_ms + grace_ms - hold_ms)
    return replace(alert, active_at_ms=alert.active_at_ms + (now_ms - down_at_ms))

"""`/prometheus/api/v1/rules` and `/alerts`: the rule manager's view in Prometheus's JSON.

Where it sits: the "API" end of "alert rules ─▶ alerts" (DESIGN §4), so Grafana's alerting
view and other Prometheus clients can read safeship's rules. It only serialises what the
manager holds; it evaluates nothing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from safeship.alerting.evaluator import Alert, RuleState, State
from safeship.alerting.manager import GroupStatus, RuleManager
from safeship.alerting.rules import Rule

_NEVER = "0001-01-01T00:00:00Z"  # Go's zero time, what Prometheus shows before a first run


def rules_api(manager: RuleManager) -> APIRouter:
    router = APIRouter(prefix="/prometheus/api/v1")

    @router.get("/rules")
    async def rules() -> JSONResponse:
        groups = [group_json(status) for status in manager.groups()]
        return JSONResponse({"status": "success", "data": {"groups": groups}})

    @router.get("/alerts")
    async def alerts() -> JSONResponse:
        found = [alert_json(alert) for alert in manager.alerts()]
        return JSONResponse({"status": "success", "data": {"alerts": found}})

    return router


def group_json(status: GroupStatus) -> dict[str, Any]:
    group = status.loaded.group
    return {
        "name": group.name,
        "file": status.loaded.file,
        "rules": [rule_json(status, index) for index in range(len(group.rules))],
        "interval": status.interval_s,
        "limit": 0,
        "evaluationTime": status.evaluation_time_s,
        "lastEvaluation": timestamp(status.last_evaluation_s),
    }


def rule_json(status: GroupStatus, index: int) -> dict[str, Any]:
    rule = status.loaded.group.rules[index]
    error = status.rule_error(index)
    health = "unknown" if status.last_evaluation_s is None else "err" if error else "ok"
    common: dict[str, Any] = {
        "name": rule.name,
        "query": rule.expr,
        "labels": rule.labels,
        "health": health,
        # Rules are timed as a group; each rule shows the group's time, an upper bound.
        "evaluationTime": status.evaluation_time_s,
        "lastEvaluation": timestamp(status.last_evaluation_s),
    }
    if error:
        common["lastError"] = error
    if rule.record is not None:
        return {**common, "type": "recording"}
    return {**common, **_alerting(rule, status.state.alerts.get(index, RuleState()))}


def _alerting(rule: Rule, state: RuleState) -> dict[str, Any]:
    active = [a for a in state.alerts.values() if a.state is not State.INACTIVE]
    worst = max((_RANK[a.state] for a in active), default=0)
    return {
        "state": [State.INACTIVE, State.PENDING, State.FIRING][worst].value,
        "duration": rule.for_,
        "keepFiringFor": rule.keep_firing_for,
        "annotations": rule.annotations,
        "alerts": [alert_json(a) for a in active],
        "type": "alerting",
    }


_RANK = {State.INACTIVE: 0, State.PENDING: 1, State.FIRING: 2}


def alert_json(alert: Alert) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state.value,
        "activeAt": timestamp(alert.active_at_ms / 1000),
        "value": go_float(alert.value),
    }
    if alert.keep_firing_since_ms is not None:
        body["keepFiringSince"] = timestamp(alert.keep_firing_since_ms / 1000)
    return body


def timestamp(seconds: float | None) -> str:
    """RFC 3339 in UTC with a Z, as Go's time.Time marshals."""
    if seconds is None:
        return _NEVER
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'e', -1, 64), how Prometheus writes an alert's value."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(np.format_float_scientific(value, unique=True, trim="-", exp_digits=2))

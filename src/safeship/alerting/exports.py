"""What `safeship export alertmanager|grafana-dashboard` print: configs for the tools
operators already run, built from safeship's own alert labels and metric names. Pure.

- `alertmanager_config`: Alertmanager routing for the default and SLO alerts: severity
  `page` or `critical` → the pager receiver, `ticket` or `warning` → the ticket receiver;
  a critical alert inhibits warnings of the same service, a page the ticket of the same SLO.
- `grafana_dashboard`: a dashboard (Grafana JSON model) over safeship as a Prometheus data
  source: requests, error ratio and p99 per version, the rollout's step, weight and phase,
  target health, and the SLOs' burn rates.
"""

from __future__ import annotations

from typing import Any

from safeship.alerting.slo import ERROR_RATIO

PAGE = 'severity=~"page|critical"'
TICKET = 'severity=~"ticket|warning"'


def alertmanager_config(*, pager_url: str, ticket_url: str) -> dict[str, Any]:
    """An Alertmanager configuration (its YAML as a dict) that `amtool check-config` accepts."""
    return {
        "route": {
            "receiver": "ticket",
            "group_by": ["alertname", "service", "slo"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "pager", "matchers": [PAGE], "repeat_interval": "1h"},
                {"receiver": "ticket", "matchers": [TICKET]},
            ],
        },
        "receivers": [
            {"name": "pager", "webhook_configs": [{"url": pager_url, "send_resolved": True}]},
            {"name": "ticket", "webhook_configs": [{"url": ticket_url, "send_resolved": True}]},
        ],
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["service"],
            },
            {
                "source_matchers": ['severity="page"'],
                "target_matchers": ['severity="ticket"'],
                "equal": ["slo", "service"],
            },
        ],
    }


_SERVICE = 'service=~"$service"'
_REQUESTS = f"safeship_router_requests_total{{{_SERVICE}}}"
_ERRORS = f'safeship_router_requests_total{{{_SERVICE},code=~"5.."}}'
_BUCKETS = f"safeship_router_request_duration_seconds_bucket{{{_SERVICE}}}"
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# (title, type, unit, [(expr, legend)]) in reading order, two panels per row.
PANELS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "Requests per second by version",
        "timeseries",
        "reqps",
        [(f"sum by (service, version) (rate({_REQUESTS}[5m]))", "{{service}} {{version}}")],
    ),
    (
        "Error ratio (5xx) by version",
        "timeseries",
        "percentunit",
        [
            (
                f"sum by (service, version) (rate({_ERRORS}[5m]))\n/\n"
                f"sum by (service, version) (rate({_REQUESTS}[5m]))",
                "{{service}} {{version}}",
            )
        ],
    ),
    (
        "p99 latency by version",
        "timeseries",
        "s",
        [
            (
                "histogram_quantile(0.99,\n"
                f"  sum by (service, version, le) (rate({_BUCKETS}[5m])))",
                "{{service}} {{version}}",
            )
        ],
    ),
    (
        "Rollout step and canary weight",
        "timeseries",
        "short",
        [
            (f"safeship_rollout_step{{{_SERVICE}}}", "step {{rollout}}"),
            (f"safeship_rollout_weight{{{_SERVICE}}}", "weight % {{rollout}}"),
        ],
    ),
    (
        "Rollout phase",
        "state-timeline",
        "short",
        [(f"max by (rollout, phase) (safeship_rollout_phase{{{_SERVICE}}}) == 1", "{{phase}}")],
    ),
    (
        "Target health (1 healthy)",
        "state-timeline",
        "short",
        [(f"safeship_target_health{{{_SERVICE}}}", "{{target}}")],
    ),
    (
        "SLO burn rate (1 = budget lasts the window)",
        "timeseries",
        "short",
        [
            (
                f"{ERROR_RATIO}{w}{{{_SERVICE}}}\n"
                f"/ on (slo, service) group_left () slo:error_budget:ratio{{{_SERVICE}}}",
                f"{{{{slo}}}} {w}",
            )
            for w in ("5m", "1h", "6h", "3d")
        ],
    ),
    (
        "Scrape targets up",
        "state-timeline",
        "short",
        [("up", "{{job}} {{instance}}")],
    ),
]


def grafana_dashboard(*, title: str = "safeship", uid: str = "safeship") -> dict[str, Any]:
    """The dashboard JSON model: import it, or provision it from a file."""
    return {
        "title": title,
        "uid": uid,
        "tags": ["safeship"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": _variables()},
        "panels": [_panel(i, *spec) for i, spec in enumerate(PANELS)],
    }


def _variables() -> list[dict[str, Any]]:
    return [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Source"},
        {
            "name": "service",
            "type": "query",
            "datasource": _DATASOURCE,
            "query": {"query": "label_values(safeship_router_requests_total, service)"},
            "definition": "label_values(safeship_router_requests_total, service)",
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "refresh": 2,
            "current": {"text": "All", "value": "$__all"},
        },
    ]


def _panel(
    index: int, title: str, kind: str, unit: str, queries: list[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": _DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + n),
                "datasource": _DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for n, (expr, legend) in enumerate(queries)
        ],
    }

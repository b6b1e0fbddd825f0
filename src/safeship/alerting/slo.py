"""SLOs → Prometheus rules: multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

Pure: `slo_groups(slos, runbook_url=...)` returns one rule group per SLO, with
- recording rules named as sloth names them, labelled `slo` and `service` (and the SLO's
  own labels): `slo:sli_error:ratio_rate<w>` (the error ratio over the window w, for w in
  5m 30m 1h 2h 6h 1d 3d), `slo:sli_total:rate<w>` (requests per second, for the
  minimum-traffic guard), `slo:objective:ratio` and `slo:error_budget:ratio`;
- two alerts, both named `SLOErrorBudgetBurn`: severity `page` when (1h and 5m) burn faster
  than 14.4 or (6h and 30m) faster than 6; severity `ticket` when (1d and 2h) burn faster
  than 3 or (3d and 6h) faster than 1. A burn rate is the error ratio over the budget
  (1 = the budget lasts exactly the window). The factors are the share of the budget that
  the long window may spend (2 %, 5 %, 10 %, 10 %) scaled to the SLO window, so a 30-day
  SLO gets exactly the workbook's 14.4 / 6 / 3 / 1. A pair counts only when each of its
  windows saw at least `minTraffic` requests.

`status_queries` and `assess` serve `safeship slo status`: availability over the window,
the budget left (ratio and time) and the current burn rates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from safeship.alerting.rules import Rule, RuleGroup
from safeship.config.slo import SloSpec, with_window

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
STATUS_WINDOWS = ("5m", "1h", "6h", "1d", "3d")
ALERT = "SLOErrorBudgetBurn"
ERROR_RATIO = "slo:sli_error:ratio_rate"
TOTAL_RATE = "slo:sli_total:rate"
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True)
class BurnWindow:
    """One (long, short) pair: it fires when both burn faster than the factor."""

    severity: str
    long: str
    short: str
    budget_pct: int  # share of the whole budget the long window may spend


BURN_WINDOWS = (
    BurnWindow("page", "1h", "5m", 2),
    BurnWindow("page", "6h", "30m", 5),
    BurnWindow("ticket", "1d", "2h", 10),
    BurnWindow("ticket", "3d", "6h", 10),
)


def seconds(window: str) -> int:
    """Seconds of a window written like `30m` or `3d`."""
    return int(window[:-1]) * _SECONDS[window[-1]]


def promql_duration(total_s: float) -> str:
    """The shortest PromQL duration for whole seconds: 2592000 → 30d."""
    whole = round(total_s)
    for unit, size in _SECONDS.items():
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"  # unreachable: every whole number of seconds divides by 1


def burn_factor(pair: BurnWindow, slo_window_s: float) -> float:
    """The burn rate above which `pair` fires: 14.4 for (1h, 2 %) of a 30-day SLO."""
    return round(pair.budget_pct * slo_window_s / (100 * seconds(pair.long)), 6)


def slo_groups(slos: Sequence[SloSpec], *, runbook_url: str) -> list[RuleGroup]:
    """One rule group per SLO: its recording rules first, then its two alerts."""
    return [slo_group(slo, runbook_url=runbook_url) for slo in slos]


def slo_group(slo: SloSpec, *, runbook_url: str) -> RuleGroup:
    labels = slo_labels(slo)
    rules = [_ratio_rule(slo, w, labels) for w in WINDOWS]
    rules += [
        Rule(record=f"{TOTAL_RATE}{w}", expr=with_window(slo.total, w), labels=labels)
        for w in WINDOWS
    ]
    rules += [
        Rule(
            record="slo:objective:ratio", expr=f"vector({_num(slo.objective / 100)})", labels=labels
        ),
        Rule(record="slo:error_budget:ratio", expr=f"vector({_num(slo.budget)})", labels=labels),
    ]
    rules += [_alert(slo, severity, runbook_url=runbook_url) for severity in ("page", "ticket")]
    return RuleGroup(name=f"slo:{slo.name}", rules=rules)


def slo_labels(slo: SloSpec) -> dict[str, str]:
    return {**slo.labels, "slo": slo.name, "service": slo.service}


def _ratio_rule(slo: SloSpec, window: str, labels: dict[str, str]) -> Rule:
    return Rule(record=f"{ERROR_RATIO}{window}", expr=error_ratio(slo, window), labels=labels)


def error_ratio(slo: SloSpec, window: str) -> str:
    """The share of bad requests over `window` as one PromQL expression."""
    total = with_window(slo.total, window)
    if slo.errors is not None:
        return f"({with_window(slo.errors, window)})\n/\n({total})"
    return f"1 - (({with_window(slo.good or '', window)})\n/\n({total}))"


def alert_expr(slo: SloSpec, severity: str) -> str:
    """(long and short burn above the factor, each with enough traffic) or (the other pair)."""
    pairs = [p for p in BURN_WINDOWS if p.severity == severity]
    return "\nor\n".join(f"(\n{_pair(slo, p)}\n)" for p in pairs)


def _pair(slo: SloSpec, pair: BurnWindow) -> str:
    factor, match = _num(burn_factor(pair, slo.window)), f'{{slo="{slo.name}"}}'
    budget = _num(slo.budget)
    terms = [f"  {ERROR_RATIO}{w}{match} / {budget} > {factor}" for w in (pair.long, pair.short)]
    if slo.min_traffic > 0:
        terms += [
            f"  {TOTAL_RATE}{w}{match} * {seconds(w)} >= {_num(slo.min_traffic)}"
            for w in (pair.long, pair.short)
        ]
    return "\nand\n".join(terms)


def _alert(slo: SloSpec, severity: str, *, runbook_url: str) -> Rule:
    pairs = " or ".join(
        f"{p.long}/{p.short} > {_num(burn_factor(p, slo.window))}x"
        for p in BURN_WINDOWS
        if p.severity == severity
    )
    return Rule(
        alert=ALERT,
        expr=alert_expr(slo, severity),
        labels={**slo_labels(slo), "severity": severity},
        annotations={
            "summary": f"SLO {slo.name} of {slo.service} burns its error budget too fast",
            "description": (
                f"The {slo.objective:g}% SLO {slo.name} burns its {promql_duration(slo.window)}"
                f" error budget {{{{ $value | humanize }}}}x faster than it lasts ({pairs})."
                + (f" {slo.description}" if slo.description else "")
            ),
            "runbook_url": f"{runbook_url}/{ALERT}.md",
        },
    )


def _num(value: float) -> str:
    """A number as PromQL reads it back exactly, without float noise (0.001, 14.4)."""
    text = repr(round(value, 12))
    return text.removesuffix(".0")


@dataclass(frozen=True)
class SloStatus:
    """Where one SLO stands: availability and budget over its window, burn rates now."""

    name: str
    service: str
    objective: float  # percent
    window_s: float
    availability: float  # ratio of good requests over the window; NaN without traffic
    budget_remaining: float  # share of the budget left (negative: overspent)
    budget_remaining_s: float  # full-outage time the remaining budget allows
    burn_rates: Mapping[str, float]  # window → burn rate (NaN without traffic)


def status_queries(slo: SloSpec) -> dict[str, str]:
    """The PromQL expressions `assess` needs: `window` and one per STATUS_WINDOWS."""
    queries = {"window": error_ratio(slo, promql_duration(slo.window))}
    queries.update({w: error_ratio(slo, w) for w in STATUS_WINDOWS})
    return queries


def assess(slo: SloSpec, ratios: Mapping[str, float]) -> SloStatus:
    """The SLO's status from the error ratios `status_queries` answered (NaN: no data)."""
    window_ratio = ratios.get("window", math.nan)
    spent = window_ratio / slo.budget
    remaining = 1.0 - spent
    return SloStatus(
        name=slo.name,
        service=slo.service,
        objective=slo.objective,
        window_s=slo.window,
        availability=1.0 - window_ratio,
        budget_remaining=remaining,
        budget_remaining_s=remaining * slo.budget * slo.window,
        burn_rates={w: ratios.get(w, math.nan) / slo.budget for w in STATUS_WINDOWS},
    )

"""SLOs → multi-window multi-burn-rate rules, and the budget `safeship slo status` reports.

The last tests feed synthetic router counters into the embedded store and run the generated
group through the rule manager, the way `safeship serve` evaluates it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from safeship.alerting.evaluator import State
from safeship.alerting.manager import LoadedGroup, RuleManager
from safeship.alerting.slo import (
    BURN_WINDOWS,
    WINDOWS,
    alert_expr,
    assess,
    burn_factor,
    slo_group,
    status_queries,
)
from safeship.config.loader import load_control_plane
from safeship.config.slo import SloSpec
from safeship.core.errors import ConfigError
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock

RUNBOOKS = "https://example.com/runbooks"
TOTAL = 'sum(rate(safeship_router_requests_total{service="shop"}[{{.window}}]))'
ERRORS = 'sum(rate(safeship_router_requests_total{service="shop",code=~"5.."}[{{.window}}]))'


def _slo(**changes: object) -> SloSpec:
    fields: dict[str, object] = {
        "name": "shop-availability",
        "service": "shop",
        "objective": 99.9,
        "total": TOTAL,
        "errors": ERRORS,
        "labels": {"team": "web"},
    }
    return SloSpec.model_validate({**fields, **changes})


@pytest.mark.parametrize(
    ("window", "expected"),
    [("30d", [14.4, 6.0, 3.0, 1.0]), ("28d", [13.44, 5.6, 2.8, 0.933333])],
)
def test_burn_factors_are_the_workbooks_for_30_days_and_scale_with_the_window(
    window: str, expected: list[float]
) -> None:
    slo = _slo(window=window)
    assert [burn_factor(p, slo.window) for p in BURN_WINDOWS] == expected
    assert [(p.severity, p.long, p.short) for p in BURN_WINDOWS] == [
        ("page", "1h", "5m"),
        ("page", "6h", "30m"),
        ("ticket", "1d", "2h"),
        ("ticket", "3d", "6h"),
    ]


def test_the_group_records_the_error_ratio_and_traffic_of_every_window() -> None:
    group = slo_group(_slo(), runbook_url=RUNBOOKS)
    records = {r.record: r for r in group.rules if r.record}
    for w in WINDOWS:
        ratio = records[f"slo:sli_error:ratio_rate{w}"]
        assert f"[{w}]" in ratio.expr and "{{.window}}" not in ratio.expr
        assert ratio.labels == {"team": "web", "slo": "shop-availability", "service": "shop"}
        assert records[f"slo:sli_total:rate{w}"].expr == TOTAL.replace("{{.window}}", w)
    assert records["slo:error_budget:ratio"].expr == "vector(0.001)"
    assert records["slo:objective:ratio"].expr == "vector(0.999)"
    # recording rules come first: in-order evaluation gives the alerts fresh ratios
    assert [r.alert for r in group.rules[-2:]] == ["SLOErrorBudgetBurn", "SLOErrorBudgetBurn"]


def test_good_queries_become_one_minus_good_over_total() -> None:
    slo = _slo(errors=None, good=TOTAL.replace("service=", 'code!~"5..",service='))
    ratio = next(r for r in slo_group(slo, runbook_url=RUNBOOKS).rules if r.record)
    assert ratio.expr.startswith("1 - ((sum(rate(safeship_router_requests_total{code!~")


def test_alerts_pair_long_and_short_windows_with_their_factor_and_labels() -> None:
    page, ticket = slo_group(_slo(), runbook_url=RUNBOOKS).rules[-2:]
    assert page.labels["severity"] == "page" and ticket.labels["severity"] == "ticket"
    assert page.labels["slo"] == "shop-availability" and page.labels["service"] == "shop"
    assert page.annotations["runbook_url"] == f"{RUNBOOKS}/SLOErrorBudgetBurn.md"
    sel = '{slo="shop-availability"}'
    for line in (
        f"slo:sli_error:ratio_rate1h{sel} / 0.001 > 14.4",
        f"slo:sli_error:ratio_rate5m{sel} / 0.001 > 14.4",
        f"slo:sli_error:ratio_rate6h{sel} / 0.001 > 6",
        f"slo:sli_error:ratio_rate30m{sel} / 0.001 > 6",
    ):
        assert line in page.expr
    for line in ("ratio_rate1d", "ratio_rate2h{", "> 3\n", "ratio_rate3d", "> 1\n"):
        assert line in ticket.expr + "\n"
    assert "sli_total" not in page.expr  # no guard without minTraffic


def test_min_traffic_guards_both_windows_of_each_pair() -> None:
    expr = alert_expr(_slo(minTraffic=100), "page")
    sel = '{slo="shop-availability"}'
    for guard in (
        f"slo:sli_total:rate1h{sel} * 3600 >= 100",
        f"slo:sli_total:rate5m{sel} * 300 >= 100",
        f"slo:sli_total:rate6h{sel} * 21600 >= 100",
        f"slo:sli_total:rate30m{sel} * 1800 >= 100",
    ):
        assert guard in expr


def test_budget_left_in_share_and_time() -> None:
    slo = _slo()  # 99.9 % over 30 days: 43.2 minutes of full outage
    status = assess(slo, {"window": 0.0005, "5m": 0.0144, "1h": 0.001})
    assert status.availability == pytest.approx(0.9995)
    assert status.budget_remaining == pytest.approx(0.5)
    assert status.budget_remaining_s == pytest.approx(1296.0)
    assert status.burn_rates["5m"] == pytest.approx(14.4)
    assert status.burn_rates["1h"] == pytest.approx(1.0)
    assert math.isnan(status.burn_rates["6h"])  # not answered: no data
    overspent = assess(slo, {"window": 0.003})
    assert overspent.budget_remaining == pytest.approx(-2.0)
    assert set(status_queries(slo)) == {"window", "5m", "1h", "6h", "1d", "3d"}
    assert "[30d]" in status_queries(slo)["window"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"total": "sum(rate(x[5m]))"}, "{{.window}}"),
        ({"good": TOTAL}, "exactly one of 'good' or 'errors'"),
        ({"errors": None}, "exactly one of 'good' or 'errors'"),
        ({"total": "sum(rate(x[{{.window}}])"}, "valid PromQL"),
        ({"objective": 100}, "less than 100"),
        ({"total": "x[{{.window}}]"}, "instant vectors"),
        ({"labels": {"severity": "x"}}, "label names other than"),
        ({"labels": {"team": "{{ $value }}"}}, "plain label values"),
        ({"description": "{{ .Value }}"}, "plain text"),
    ],
)
def test_invalid_slos_are_refused(changes: dict[str, object], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        _slo(**changes)


def test_safeship_yaml_errors_name_the_slo_key(tmp_path: Path) -> None:
    path = tmp_path / "safeship.yaml"
    path.write_text(
        "slos:\n  - name: a\n    service: s\n    objective: 99\n    total: up\n"
        "    errors: sum(rate(e[{{.window}}]))\n"
    )
    with pytest.raises(ConfigError, match=r"safeship.yaml:5: key 'slos\[0\]\.total'"):
        load_control_plane(path)


# --- the generated rules through the rule manager over the embedded store ---

T0 = 1_700_000_000.0
STEP_S = 15


def _store(*, healthy_h: float, burn: float, burn_h: float, rps: float) -> SeriesStore:
    """Router counters of `shop`: `healthy_h` hours without errors, then `burn_h` hours
    where the error ratio is `burn` times the 0.1 % budget."""
    store = SeriesStore()
    steps = round((healthy_h + burn_h) * 3600 / STEP_S)
    times = T0 + np.arange(steps + 1) * STEP_S
    bad_share = np.where(times > T0 + healthy_h * 3600, burn * 0.001, 0.0)
    errors = np.concatenate([[0.0], np.cumsum(bad_share[1:] * rps * STEP_S)])
    total = np.arange(steps + 1) * rps * STEP_S
    base = {"__name__": "safeship_router_requests_total", "service": "shop", "version": "v1"}
    for t, err, tot in zip(times, errors, total, strict=True):
        store.append({**base, "code": "500"}, round(t * 1000), float(err))
        store.append({**base, "code": "200"}, round(t * 1000), float(tot - err))
    return store


def _firing(store: SeriesStore, slo: SloSpec, now: float) -> set[str]:
    """Severities of the SLO alerts firing after one evaluation at `now`."""
    group = LoadedGroup(slo_group(slo, runbook_url=RUNBOOKS), "safeship:slos")
    clock = FakeClock(now)
    manager = RuleManager([group], engine=Engine(store), store=store, clock=clock)
    manager.evaluate_due()
    return {dict(a.labels)["severity"] for a in manager.alerts() if a.state is State.FIRING}


@pytest.mark.parametrize(
    ("burn", "rps", "min_traffic", "expected"),
    [
        (20.0, 10.0, 0, {"page", "ticket"}),  # 1h and 5m above 14.4: page
        (10.0, 10.0, 0, {"ticket"}),  # below 14.4, and 6h dilutes it below 6: no page
        (20.0, 0.02, 10, {"ticket"}),  # fast burn but 6 requests in 5m: the guard holds
    ],
)
def test_a_fast_burn_pages_and_a_slower_one_does_not(
    burn: float, rps: float, min_traffic: int, expected: set[str]
) -> None:
    store = _store(healthy_h=6, burn=burn, burn_h=1, rps=rps)
    slo = _slo(minTraffic=min_traffic)
    assert _firing(store, slo, T0 + 7 * 3600) == expected

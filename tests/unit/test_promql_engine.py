"""The PromQL engine through its public API: instant and range queries, errors."""

from __future__ import annotations

import math

import pytest

from safeship.metrics.promql import Engine, Matrix, PromQLError, Scalar, Vector
from safeship.metrics.store import SeriesStore


@pytest.fixture
def engine() -> Engine:
    store = SeriesStore()
    for minute in range(31):
        t = minute * 60_000
        store.append({"__name__": "req_total", "job": "api"}, t, 10.0 * minute)
        store.append({"__name__": "req_total", "job": "web"}, t, 4.0 * minute)
        store.append({"__name__": "temp", "room": "a"}, t, float(minute % 7))
    return Engine(store)


def _by_label(value: object, name: str) -> dict[str, float]:
    assert isinstance(value, Vector)
    return {dict(lbl).get(name, ""): v for lbl, v in value.samples()}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("req_total", {"api": 100.0, "web": 40.0}),
        ("rate(req_total[5m]) * 60", {"api": 10.0, "web": 4.0}),
        ("increase(req_total[5m])", {"api": 50.0, "web": 20.0}),
        ("sum by (job) (req_total) > 50", {"api": 100.0}),
        ("req_total offset 5m", {"api": 50.0, "web": 20.0}),
        ("req_total / on() group_left sum(req_total)", {"api": 100 / 140, "web": 40 / 140}),
        ("max_over_time(req_total[10m:1m])", {"api": 100.0, "web": 40.0}),
        ('label_replace(req_total, "job", "x-$1", "job", "(a.*)")', {"x-api": 100.0, "web": 40.0}),
    ],
)
def test_instant_queries_give_prometheus_values(
    engine: Engine, expr: str, expected: dict[str, float]
) -> None:
    got = _by_label(engine.instant(expr, 600), "job")
    assert got == pytest.approx(expected)


def test_scalar_expressions_evaluate_to_scalars(engine: Engine) -> None:
    assert engine.instant("time() + 2 ^ 3", 60) == Scalar(68.0)


def test_series_past_the_lookback_delta_disappear(engine: Engine) -> None:
    assert len(engine.instant("req_total", 30 * 60 + 299)) == 2  # type: ignore[arg-type]
    assert len(engine.instant("req_total", 30 * 60 + 301)) == 0  # type: ignore[arg-type]


def test_range_query_evaluates_every_step(engine: Engine) -> None:
    result = engine.range('req_total{job="web"}', 0, 300, 60)
    assert isinstance(result, Matrix)
    (series,) = result.series
    assert series.timestamps.tolist() == [0, 60_000, 120_000, 180_000, 240_000, 300_000]
    assert series.values.tolist() == [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    store = SeriesStore()
    for le, count in [("0.1", 10.0), ("0.5", 30.0), ("+Inf", 40.0)]:
        store.append({"__name__": "h_bucket", "le": le}, 0, count)
    got = Engine(store).instant("histogram_quantile(0.5, h_bucket)", 0)
    assert isinstance(got, Vector)
    assert got.values.tolist() == [pytest.approx(0.1 + 0.4 * 0.5)]


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("sum(", "unclosed left parenthesis"),
        ("rate(req_total)", "expected type matrix"),
        ("nosuchfn(req_total)", "unknown function"),
        ("req_total + on(room) temp", None),
    ],
)
def test_errors_name_the_problem(engine: Engine, expr: str, fragment: str | None) -> None:
    if fragment is None:
        assert len(engine.instant(expr, 600)) == 0  # type: ignore[arg-type]
        return
    with pytest.raises(PromQLError) as info:
        engine.instant(expr, 600)
    assert fragment in str(info.value)
    assert info.value.position is not None


def test_one_to_one_matching_with_duplicates_is_an_error(engine: Engine) -> None:
    with pytest.raises(PromQLError, match="many-to-many matching not allowed"):
        engine.instant("temp + on() req_total", 600)


def test_division_by_zero_gives_infinity_not_an_exception(engine: Engine) -> None:
    got = engine.instant("req_total / 0", 600)
    assert isinstance(got, Vector)
    assert all(math.isinf(v) for v in got.values.tolist())

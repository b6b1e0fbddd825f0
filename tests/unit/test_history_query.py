"""History fallback of the Prometheus API: rollups in SQLite answer what a fresh store lacks.

Three hours of a counter (with a reset) and a gauge are rolled up through the real Rollup
job; the API over a FRESH store (a restart) then answers query_range from history, and a
query inside the hot window answers exactly as without history.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine as SqlEngine

from safeship.config.metrics import ControlPlaneConfig
from safeship.metrics.history_query import needs_history, reach_ms, selector_matchers
from safeship.metrics.index import equal
from safeship.metrics.promql import Engine
from safeship.metrics.promql.parsing import parse
from safeship.metrics.retention import HistoryReader, RollupWriter, open_history
from safeship.metrics.rollups import Rollup
from safeship.metrics.store import SeriesStore
from safeship.server.app import create_app
from safeship.testing import FakeClock
from safeship.wiring.serve import history_reader

T0_S = 1_699_999_200  # on an hour boundary
END_S = T0_S + 3 * 3600
RATE = 10.0  # counter increase per second
RESET_S = T0_S + 5400 + 7  # mid-bucket, so the rollups cannot see it exactly
LOOKBACK_MS = 300_000


def _gauge(t_s: float) -> float:
    return 50.0 + 10.0 * math.sin(2 * math.pi * (t_s - T0_S) / 3600)


def _counter(t_s: float) -> float:
    return RATE * (t_s - T0_S if t_s < RESET_S else t_s - RESET_S)


def _raw(*, since_s: int = T0_S) -> SeriesStore:
    store = SeriesStore()
    refs = np.asarray([store.ref({"__name__": "gauge"}), store.ref({"__name__": "counter"})])
    for t in range(since_s, END_S + 1, 15):
        store.append_refs(refs, t * 1000, [_gauge(t), _counter(t)])
    return store


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlEngine]:
    path: Path = tmp_path_factory.mktemp("history") / "state.db"
    engine = open_history(f"sqlite:///{path}")
    Rollup(_raw(), RollupWriter(engine), clock=FakeClock(END_S + 90)).run()
    yield engine
    engine.dispose()


def _client(store: SeriesStore, history: SqlEngine | None) -> TestClient:
    app = create_app(
        engine=Engine(store),
        store=store,
        clock=FakeClock(END_S),
        registry=CollectorRegistry(),
        ready=no_reasons,
        history=None if history is None else HistoryReader(history),
    )
    return TestClient(app)


def _range(client: TestClient, query: str, start: int, end: int) -> dict[str, Any]:
    params = {"query": query, "start": str(start), "end": str(end), "step": "60"}
    response = client.get("/prometheus/api/v1/query_range", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _points(body: dict[str, Any]) -> dict[int, float]:
    (series,) = body["data"]["result"]
    return {int(t): float(v) for t, v in series["values"]}


@pytest.mark.parametrize(
    "since_s",
    [pytest.param(END_S + 60, id="restart-empty-store"),
     pytest.param(END_S - 1800, id="restart-30m-ago-history-then-hot")],
)  # fmt: skip
def test_query_range_after_restart_reads_history(history: SqlEngine, since_s: int) -> None:
    fresh = _raw(since_s=since_s) if since_s <= END_S else SeriesStore()
    client, truth = _client(fresh, history), _client(_raw(), None)
    start = T0_S + 600
    gauge = _points(_range(client, "gauge", start, END_S))
    want = _points(_range(truth, "gauge", start, END_S))
    assert gauge.keys() == want.keys()
    assert all(abs(gauge[t] - want[t]) <= 0.01 * want[t] for t in want)
    rate = _points(_range(client, "rate(counter[5m])", start, END_S))
    assert len(rate) == len(want)
    far_from_reset = [v for t, v in rate.items() if abs(t - RESET_S) > 360]
    # Bucket ends stamp each `last` up to one scrape interval (15 s) late: at the seam
    # with hot data a 5m window can be 15/300 = 5% off.
    assert all(abs(v - RATE) <= 0.06 * RATE for v in far_from_reset)
    near_reset = [v for t, v in rate.items() if abs(t - RESET_S) <= 360]
    assert all(0.7 * RATE <= v <= 1.05 * RATE for v in near_reset)  # the reset is not lost


def test_instant_query_after_restart_reads_history(history: SqlEngine) -> None:
    client = _client(SeriesStore(), history)
    params = {"query": "increase(counter[1h])", "time": str(T0_S + 3600)}
    body = client.get("/prometheus/api/v1/query", params=params).json()
    (row,) = body["data"]["result"]
    assert abs(float(row["value"][1]) - RATE * 3600) <= 0.02 * RATE * 3600


@pytest.mark.parametrize("query", ["gauge", "rate(counter[5m])", "sum_over_time(gauge[10m])"])
def test_query_inside_hot_window_is_unchanged(history: SqlEngine, query: str) -> None:
    store = _raw()
    start, end = T0_S + 3600, T0_S + 7200
    with_history = _range(_client(store, history), query, start, end)
    assert with_history == _range(_client(store, None), query, start, end)


@pytest.mark.parametrize(
    ("expr", "reach"),
    [
        ("x", LOOKBACK_MS),
        ("x offset 1m", 60_000 + LOOKBACK_MS),
        ("rate(x[5m])", 300_000),
        ("rate(x[5m] offset 1h) / y", 3_900_000),
        ("max_over_time(rate(x[1m])[10m:30s])", 660_000),
        ("sum by (a) (x) + 1", LOOKBACK_MS),
        ("time()", 0),
        ("x @ 100", 2**62),
    ],
)
def test_reach_is_the_largest_range_offset_and_lookback(expr: str, reach: int) -> None:
    assert reach_ms(parse(expr), lookback_ms=LOOKBACK_MS) == reach


def test_selector_matchers_are_found_once_each() -> None:
    found = selector_matchers(parse('rate(x{a="b"}[5m]) / x{a="b"} + on() y'))
    assert found == [
        (equal("__name__", "x"), equal("a", "b")),
        (equal("__name__", "y"),),
    ]


@pytest.mark.parametrize(
    ("first_ms", "hot_begins_ms", "expected"),
    [(100, None, True), (100, 101, True), (101, 101, False), (500, 101, False)],
)
def test_needs_history_when_data_predates_the_hot_store(
    first_ms: int, hot_begins_ms: int | None, expected: bool
) -> None:
    assert needs_history(first_ms=first_ms, hot_begins_ms=hot_begins_ms) is expected


def test_serve_wires_a_reader_of_the_configured_history(history: SqlEngine) -> None:
    url = history.url.render_as_string(hide_password=False)
    on = ControlPlaneConfig.model_validate({"history": {"database": url, "tiers": {"1m": "7d"}}})
    reader = history_reader(on)
    assert reader is not None
    (series,) = reader.select([equal("__name__", "gauge")], T0_S * 1000, END_S * 1000, 1)
    assert series.timestamps.size == 180  # 1m buckets only, as configured
    assert (
        history_reader(ControlPlaneConfig.model_validate({"history": {"enabled": False}})) is None
    )


async def no_reasons() -> list[str]:
    return []

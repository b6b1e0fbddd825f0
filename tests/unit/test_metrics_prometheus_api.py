"""The Prometheus-compatible HTTP API: Prometheus's JSON shapes and error format."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.server.prometheus_api import prometheus_api
from safeship.testing import FakeClock


@pytest.fixture
def client() -> TestClient:
    store = SeriesStore()
    for minute in range(11):
        for job, rate in (("api", 3.0), ("web", 1.5)):
            store.append({"__name__": "hits_total", "job": job}, minute * 60_000, rate * minute)
    app = FastAPI()
    app.include_router(prometheus_api(Engine(store), store, clock=FakeClock(600.0)))
    return TestClient(app)


def test_instant_query_answers_with_a_vector(client: TestClient) -> None:
    body = client.get("/prometheus/api/v1/query", params={"query": 'hits_total{job="api"}'}).json()
    assert body == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"__name__": "hits_total", "job": "api"}, "value": [600, "30"]}],
        },
    }


def test_scalar_result_and_float_formatting(client: TestClient) -> None:
    body = client.post("/prometheus/api/v1/query", data={"query": "1/3", "time": "60.5"}).json()
    assert body["data"] == {"resultType": "scalar", "result": [60.5, "0.3333333333333333"]}


def test_range_query_answers_with_a_matrix(client: TestClient) -> None:
    params = {"query": "sum(hits_total)", "start": "0", "end": "120", "step": "1m"}
    body = client.get("/prometheus/api/v1/query_range", params=params).json()
    assert body["data"]["resultType"] == "matrix"
    assert body["data"]["result"] == [{"metric": {}, "values": [[0, "0"], [60, "4.5"], [120, "9"]]}]


def test_series_labels_and_label_values(client: TestClient) -> None:
    series = client.get("/prometheus/api/v1/series", params={"match[]": 'hits_total{job="web"}'})
    assert series.json()["data"] == [{"__name__": "hits_total", "job": "web"}]
    assert client.get("/prometheus/api/v1/labels").json()["data"] == ["__name__", "job"]
    values = client.get("/prometheus/api/v1/label/job/values").json()
    assert values == {"status": "success", "data": ["api", "web"]}


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/prometheus/api/v1/query", {"query": "sum("}, 400),
        ("/prometheus/api/v1/query", {}, 400),
        ("/prometheus/api/v1/query", {"query": "up", "time": "yesterday"}, 400),
        (
            "/prometheus/api/v1/query_range",
            {"query": "up", "start": "10", "end": "0", "step": "1"},
            400,
        ),
        ("/prometheus/api/v1/series", {}, 400),
    ],
)
def test_bad_requests_get_prometheus_errors(
    client: TestClient, path: str, params: dict[str, str], status: int
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    body = response.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data" and body["error"]


@pytest.mark.parametrize(
    ("query", "status", "kind", "error"),
    [
        (
            'hits_total{job=~"x++"}',
            400,
            "bad_data",
            'invalid parameter "query": 1:12: parse error: error parsing regexp: '
            "invalid nested repetition operator: `++`",
        ),
        (
            "sort_by_label(hits_total)",
            400,
            "bad_data",
            'invalid parameter "query": 1:1: parse error: '
            'unknown function with name "sort_by_label"',
        ),
        (
            'label_replace(hits_total, "job", "x", "job", ".*")',
            422,
            "execution",
            "vector cannot contain metrics with the same labelset",
        ),
        (
            'label_replace(hits_total, "a", "$1", "job", "(")',
            422,
            "execution",
            "invalid regular expression in label_replace(): (",
        ),
        (
            "holt_winters(hits_total[5m], 1, 0.5)",
            422,
            "execution",
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000",
        ),
    ],
)
def test_queries_prometheus_refuses_get_its_error(
    client: TestClient, query: str, status: int, kind: str, error: str
) -> None:
    for path, extra in (("query", {}), ("query_range", {"start": "0", "end": "600", "step": "60"})):
        response = client.get(f"/prometheus/api/v1/{path}", params={"query": query, **extra})
        assert response.status_code == status
        assert response.json() == {"status": "error", "errorType": kind, "error": error}


def test_re2_inline_flags_select_series(client: TestClient) -> None:
    body = client.get("/prometheus/api/v1/query", params={"query": 'hits_total{job=~"(?i)API"}'})
    assert [r["metric"]["job"] for r in body.json()["data"]["result"]] == ["api"]
    series = client.get("/prometheus/api/v1/series", params={"match[]": 'hits_total{job=~"("}'})
    assert series.status_code == 400 and series.json()["errorType"] == "bad_data"


def test_buildinfo_metadata_and_exemplars_answer_as_prometheus_shapes(client: TestClient) -> None:
    info = client.get("/prometheus/api/v1/status/buildinfo").json()
    assert info["status"] == "success" and info["data"]["version"] == "2.42.0"
    assert set(info["data"]) == {
        "version", "revision", "branch", "buildUser", "buildDate", "goVersion"
    }  # fmt: skip
    metadata = client.get("/prometheus/api/v1/metadata").json()
    assert metadata == {"status": "success", "data": {}}
    exemplars = client.get("/prometheus/api/v1/query_exemplars", params={"query": "up"})
    assert exemplars.json() == {"status": "success", "data": []}
    bad = client.get("/prometheus/api/v1/query_exemplars", params={"query": "up{"})
    assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data"


def test_labels_and_values_honour_match_start_end_and_limit() -> None:
    store = SeriesStore()
    store.append({"__name__": "a", "job": "api", "zone": "x"}, 0, 1.0)
    store.append({"__name__": "b", "job": "web"}, 600_000, 1.0)
    app = FastAPI()
    app.include_router(prometheus_api(Engine(store), store, clock=FakeClock(600.0)))
    api = TestClient(app)

    def data(path: str, **params: str) -> object:
        return api.get(f"/prometheus/api/v1/{path}", params=params).json()["data"]

    assert data("labels") == ["__name__", "job", "zone"]
    assert data("labels", **{"match[]": "b"}) == ["__name__", "job"]
    assert data("label/job/values", start="300") == ["web"]
    assert data("label/job/values", end="300") == ["api"]
    assert data("label/job/values", limit="1") == ["api"]
    body = api.get("/prometheus/api/v1/labels", params={"limit": "x"}).json()
    assert (body["status"], body["errorType"]) == ("error", "bad_data")


class _SlowEngine:
    """A querier whose every query takes `seconds` of a worker thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def instant(self, expr: str, t: float) -> object:
        time.sleep(self.seconds)
        return Engine(SeriesStore()).instant(expr, t)


def test_a_query_over_its_timeout_answers_timeout() -> None:
    app = FastAPI()
    app.include_router(prometheus_api(_SlowEngine(2.0), SeriesStore()))  # type: ignore[arg-type]
    started = time.monotonic()
    response = TestClient(app).get(
        "/prometheus/api/v1/query", params={"query": "1", "timeout": "0.2"}
    )
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    assert response.json()["errorType"] == "timeout"


def test_a_slow_query_does_not_stall_the_event_loop() -> None:
    asyncio.run(_slow_and_quick())


async def _slow_and_quick() -> None:
    store = SeriesStore()
    store.append({"__name__": "up", "job": "api"}, 0, 1.0)
    app = FastAPI()
    app.include_router(prometheus_api(_SlowEngine(1.0), store))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        slow = asyncio.create_task(client.get("/prometheus/api/v1/query", params={"query": "1"}))
        await asyncio.sleep(0.1)  # the slow query now holds a worker thread
        started = time.monotonic()
        labels = await client.get("/prometheus/api/v1/labels")
        quick = time.monotonic() - started
        assert labels.json()["data"] == ["__name__", "job"] and not slow.done()
        assert quick < 0.5
        assert (await slow).json()["status"] == "success"

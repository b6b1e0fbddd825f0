"""The Prometheus-compatible API answers with Prometheus-identical JSON for the same data.

The same samples go into Debian's real Prometheus (as TSDB blocks built by
`promtool tsdb create-blocks-from openmetrics`) and into safeship's SeriesStore; every
query is then asked of both and the answers are compared field by field: status, HTTP
status, resultType, errorType, and the result as a set of (labels, values-as-strings).
Prometheus' `stats`, `warnings` and `infos` are not part of the comparison.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from safeship.cli.main import app as cli
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.server.prometheus_api import prometheus_api
from safeship.testing import FakeClock, free_port

pytestmark = pytest.mark.integration
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
STEP = 15  # seconds between samples
POINTS = 121  # 30 minutes of samples
# Aligned to the hour, 2-3 hours back: inside retention, outside Prometheus' own head.
START = (int(time.time()) // 3600 - 3) * 3600
END = START + STEP * (POINTS - 1)
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")

Sample = tuple[dict[str, str], float, float]  # labels, time in seconds, value
Get = Callable[[str, dict[str, str]], tuple[int, dict[str, Any]]]


def counter_samples() -> Iterator[Sample]:
    for job, instance, code, per_step in (
        ("api", "a:1", "200", 7.0),
        ("api", "b:1", "200", 5.5),
        ("api", "a:1", "500", 0.3),
        ("web", "c:1", "200", 2.25),
    ):
        labels = {"__name__": "http_requests_total", "job": job, "instance": instance}
        for i in range(POINTS):
            # A reset half way through one series, and an offset of 250 ms on another,
            # so rate's reset handling and extrapolation both show.
            value = per_step * (i if job != "web" or i < 60 else i - 60) + (i % 3) * 0.1
            shift = 0.25 if instance == "b:1" else 0.0
            yield {**labels, "code": code}, START + i * STEP + shift, value


def histogram_samples() -> Iterator[Sample]:
    for job, scale in (("api", 1.0), ("web", 2.0)):
        for k, le in enumerate(BUCKETS):
            labels = {"__name__": "request_duration_seconds_bucket", "job": job, "le": le}
            for i in range(POINTS):
                yield labels, START + i * STEP, scale * i * (k + 1) * (k + 2) / 3


def gauge_samples() -> Iterator[Sample]:
    for room, base in (("lab", 21.3), ("office", 19.7)):
        labels = {"__name__": "temperature_celsius", "room": room}
        for i in range(POINTS):
            yield labels, START + i * STEP, base + (i % 7) * 0.1


def all_samples() -> list[Sample]:
    return [*counter_samples(), *histogram_samples(), *gauge_samples()]


def openmetrics(samples: list[Sample]) -> str:
    """One family per metric name, each series' samples in time order, then `# EOF`."""
    lines: list[str] = []
    for name in dict.fromkeys(labels["__name__"] for labels, _, _ in samples):
        lines.append(f"# TYPE {name} unknown")
        for labels, t, value in samples:
            if labels["__name__"] == name:
                pairs = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
                lines.append(f"{name}{{{pairs}}} {value!r} {t!r}")
    return "\n".join([*lines, "# EOF", ""])


def start_prometheus(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    for binary in (PROMETHEUS, PROMTOOL):
        assert shutil.which(binary), f"{binary} is missing: scripts/install-system.sh"
    source, tsdb, config = tmp_path / "data.om", tmp_path / "tsdb", tmp_path / "prometheus.yml"
    source.write_text(openmetrics(all_samples()))
    build = [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)]
    subprocess.run(build, check=True, capture_output=True, timeout=30)
    config.write_text("scrape_configs: []\n")
    listen = f"127.0.0.1:{free_port()}"
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tsdb}",
        "--storage.tsdb.retention.time=30d",
        f"--web.listen-address={listen}",
        "--log.level=warn",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://{listen}"


def wait_ready(url: str, process: subprocess.Popen[bytes], *, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, f"prometheus exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/-/ready", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became ready")


def safeship_app() -> FastAPI:
    store = SeriesStore()
    for labels, t, value in all_samples():
        store.append(labels, round(t * 1000), value)
    app = FastAPI()
    app.include_router(prometheus_api(Engine(store), store, clock=FakeClock(float(END))))
    return app


@pytest.fixture(scope="module")
def safeship_url() -> Iterator[str]:
    """safeship's API on a real socket, for `safeship query --url`."""
    port = free_port()
    config = uvicorn.Config(safeship_app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Get, Get]]:
    """(ask Prometheus, ask safeship): each takes an API path and parameters."""
    process, url = start_prometheus(tmp_path_factory.mktemp("prometheus"))
    try:
        wait_ready(url, process)
        with httpx.Client(base_url=f"{url}/api/v1", timeout=10) as remote:
            local = TestClient(safeship_app())

            def ask_prometheus(path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
                response = remote.get(path, params=params)
                return response.status_code, response.json()

            def ask_safeship(path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
                response = local.get(f"/prometheus/api/v1{path}", params=params)
                return response.status_code, response.json()

            yield ask_prometheus, ask_safeship
    finally:
        process.kill()
        process.wait(timeout=10)


def comparable(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """The parts of an answer that must be identical (order-free where Prometheus is)."""
    data = body.get("data")
    found: dict[str, Any] = {
        "http": status,
        "status": body["status"],
        "errorType": body.get("errorType"),
    }
    if isinstance(data, dict):
        found["resultType"] = data["resultType"]
        found["result"] = _result(data["resultType"], data["result"])
    elif isinstance(data, list):
        found["data"] = _rows(data)
    return found


def _result(kind: str, result: Any) -> Any:
    if kind in ("scalar", "string"):
        return tuple(result)
    key = "value" if kind == "vector" else "values"
    rows = {(_labels(row["metric"]), _points(row[key], kind)) for row in result}
    assert len(rows) == len(result), "a series appears twice"
    return rows


def _points(points: list[Any], kind: str) -> tuple[Any, ...]:
    if kind == "vector":
        return (float(points[0]), points[1])
    return tuple((float(t), v) for t, v in points)


def _labels(metric: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset(metric.items())


def _rows(data: list[Any]) -> Any:
    if data and isinstance(data[0], dict):
        return {_labels(x) for x in data}
    return sorted(data)


INSTANT_QUERIES = [
    "http_requests_total",
    'http_requests_total{job="api",code!="500"}',
    "rate(http_requests_total[5m])",
    "increase(http_requests_total[2m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.75, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(request_duration_seconds_bucket[5m]))",
    "http_requests_total > bool 500",
    "temperature_celsius > 20",
    "scalar(sum(temperature_celsius))",
    "1 / 3",
    '"hello"',
    'absent(nothing_here{job="x"})',
    "absent(http_requests_total)",
    "avg_over_time(temperature_celsius[10m])",
    "temperature_celsius offset 10m",
    "temperature_celsius[1m]",
    "max_over_time(rate(http_requests_total[2m])[10m:1m])",
    "rate(http_requests_total[5m])[10m:1m]",
    "-temperature_celsius",
    "topk(2, http_requests_total)",
    'count_values("v", round(temperature_celsius))',
    "quantile(0.3, temperature_celsius)",
    'label_replace(temperature_celsius, "where", "$1-x", "room", "(.*)")',
    "http_requests_total / on(job, instance) group_left sum by (job, instance) "
    "(http_requests_total)",
    "time()",
    "vector(1)",
    "deriv(temperature_celsius[5m])",
    "changes(temperature_celsius[10m])",
    "resets(http_requests_total[30m])",
]
ERROR_QUERIES = [
    "sum(",
    "rate(http_requests_total)",
    "http_requests_total + on(job) http_requests_total",
]
TIMES = [START + 600, END, END + 200.5]


def test_prometheus_loaded_every_series(apis: tuple[Get, Get]) -> None:
    # Guards the comparisons below against passing on two empty answers.
    status, body = apis[0]("/series", {"match[]": '{__name__=~".+"}'})
    expected = {frozenset(labels.items()) for labels, _, _ in all_samples()}
    assert status == 200 and {frozenset(x.items()) for x in body["data"]} == expected


@pytest.mark.parametrize("t", TIMES)
@pytest.mark.parametrize("expr", INSTANT_QUERIES + ERROR_QUERIES)
def test_instant_query_matches_prometheus(apis: tuple[Get, Get], expr: str, t: float) -> None:
    assert_same(apis, "/query", {"query": expr, "time": str(t)})


@pytest.mark.parametrize("expr", INSTANT_QUERIES + ERROR_QUERIES)
def test_range_query_matches_prometheus(apis: tuple[Get, Get], expr: str) -> None:
    params = {"query": expr, "start": str(START + 300), "end": str(END + 120), "step": "45"}
    assert_same(apis, "/query_range", params)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/series", {"match[]": "http_requests_total"}),
        ("/series", {"match[]": '{job="web"}'}),
        ("/series", {"match[]": '{__name__=~"temp.*|request_.*", le=~"0.*"}'}),
        ("/labels", {}),
        ("/label/job/values", {}),
        ("/label/__name__/values", {}),
        ("/label/le/values", {}),
        ("/label/nothing/values", {}),
        ("/query_range", {"query": "up", "start": "10", "end": "0", "step": "1"}),
        ("/query", {"query": "up", "time": "yesterday"}),
        ("/series", {}),
        ("/series", {"match[]": "temperature_celsius", "start": str(START), "end": str(END)}),
        ("/series", {"match[]": "temperature_celsius", "start": str(END + 3600)}),
        ("/query", {}),
        ("/query_range", {"query": "up", "start": "0", "end": "100000", "step": "1"}),
        ("/query_range", {"query": "up", "start": "0", "end": "10", "step": "0"}),
    ],
)
def test_metadata_and_bad_requests_match_prometheus(
    apis: tuple[Get, Get], path: str, params: dict[str, str]
) -> None:
    assert_same(apis, path, params)


def assert_same(apis: tuple[Get, Get], path: str, params: dict[str, str]) -> None:
    ask_prometheus, ask_safeship = apis
    expected = comparable(*ask_prometheus(path, params))
    got = comparable(*ask_safeship(path, params))
    assert got == expected


@pytest.mark.parametrize(
    "expr",
    [
        "sum by (job) (rate(http_requests_total[5m]))",
        "histogram_quantile(0.75, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        "temperature_celsius[1m]",
        "scalar(sum(temperature_celsius))",
        '"hello"',
    ],
)
def test_safeship_query_json_matches_prometheus(
    apis: tuple[Get, Get], safeship_url: str, expr: str
) -> None:
    args = ["query", expr, "--time", str(END), "--format", "json", "--url", safeship_url]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    expected = comparable(*apis[0]("/query", {"query": expr, "time": str(END)}))
    assert comparable(200, json.loads(run.stdout)) == expected


def test_safeship_query_range_json_matches_prometheus(
    apis: tuple[Get, Get], safeship_url: str
) -> None:
    expr = "rate(http_requests_total[5m]) > bool 0.1"
    args = ["query", expr, "--time", str(END), "--range", "10m", "--step", "45s"]
    run = CliRunner().invoke(cli, [*args, "--format", "json", "--url", safeship_url])
    assert run.exit_code == 0, run.output
    params = {"query": expr, "start": str(END - 600), "end": str(END), "step": "45"}
    expected = comparable(*apis[0]("/query_range", params))
    assert comparable(200, json.loads(run.stdout)) == expected


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/status/buildinfo", {}),
        ("/metadata", {}),
        ("/query_exemplars", {"query": "http_requests_total"}),
        ("/query_exemplars", {"query": "sum("}),
    ],
)
def test_endpoints_grafana_and_promtool_ask_answer_in_prometheus_shape(
    apis: tuple[Get, Get], path: str, params: dict[str, str]
) -> None:
    (want_status, want), (got_status, got) = (ask(path, params) for ask in apis)
    assert (got_status, got["status"], got.get("errorType")) == (
        want_status,
        want["status"],
        want.get("errorType"),
    )
    data, expected = got.get("data"), want.get("data")
    assert type(data) is type(expected)
    if isinstance(expected, dict) and path == "/status/buildinfo":
        release = expected["version"].split("+")[0]  # a distribution's build: 2.42.0+ds
        assert set(data) == set(expected) and data["version"] == release
    else:
        assert data == expected

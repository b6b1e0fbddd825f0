"""The Prometheus-compatible HTTP API (query, query_range, series, labels, label values).

Answers with Prometheus's exact JSON shapes so Grafana and other Prometheus clients can use
safeship as a data source. The router only parses parameters and serialises results; the
engine and the store do the work, in worker threads (at most `MAX_CONCURRENT_QUERIES` at
once, each bounded by `timeout`), so a heavy query never stalls the scrape loop or the rule
manager on the event loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from safeship import __version__
from safeship.core.clock import Clock, SystemClock
from safeship.core.durations import parse_duration
from safeship.core.errors import InvalidInput, SafeshipError
from safeship.core.labels import Labels
from safeship.metrics.history_query import HistoryQuery, Querier
from safeship.metrics.promql import Engine, Matrix, PromQLError, Scalar, String, Value, Vector
from safeship.metrics.promql.parsing import matchers_of, parse
from safeship.metrics.retention import HistoryReader
from safeship.metrics.store import MAX_T, MIN_T, SeriesStore

MAX_CONCURRENT_QUERIES = 4  # worker threads answering API calls at once; the rest wait
DEFAULT_TIMEOUT_S = 120.0  # Prometheus's -query.timeout default
_MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series
_NOT_RANGEABLE = {
    "StringLiteral": "string",
    "MatrixSelector": "range vector",
    "SubqueryExpr": "range vector",
}


# What /status/buildinfo answers: Grafana and promtool read `version` to pick features, so
# it is the Prometheus API version safeship speaks; safeship's own is in `branch`.
BUILD_INFO = {
    "version": "2.42.0",
    "revision": "",
    "branch": f"safeship-{__version__}",
    "buildUser": "",
    "buildDate": "",
    "goVersion": "",
}


class BadData(InvalidInput):
    """A request parameter Prometheus would reject with errorType bad_data."""


def prometheus_api(
    engine: Engine,
    store: SeriesStore,
    *,
    clock: Clock | None = None,
    history: HistoryReader | None = None,
) -> APIRouter:
    """Routes under /prometheus/api/v1 (GET and POST form) over `engine` and `store`;
    with `history`, query and query_range fall back to rollups older than the store."""
    now = (clock or SystemClock()).now
    querier: Querier = engine if history is None else HistoryQuery(engine, store, history)
    router = APIRouter(prefix="/prometheus/api/v1")
    limiter = anyio.CapacityLimiter(MAX_CONCURRENT_QUERIES)

    async def answer(work: Callable[[], Any], p: dict[str, list[str]]) -> JSONResponse:
        """`work` in a worker thread within the request's `timeout`, as a Prometheus answer."""
        try:
            timeout = parse_step(_one(p, "timeout", repr(DEFAULT_TIMEOUT_S)), name="timeout")
            with anyio.fail_after(timeout):
                data = await anyio.to_thread.run_sync(work, limiter=limiter, abandon_on_cancel=True)
        except TimeoutError:
            return _error("timeout", "query timed out in expression evaluation", 503)
        except SafeshipError as exc:
            return _error(error_type(exc.http_status), str(exc), exc.http_status)
        return JSONResponse({"status": "success", "data": data})

    async def params(request: Request) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            found.setdefault(key, []).append(value)
        if request.method == "POST":
            # Form bodies are parsed here so the API needs no python-multipart.
            body = (await request.body()).decode()
            for key, value in parse_qsl(body, keep_blank_values=True):
                found.setdefault(key, []).append(value)
        return found

    async def query(request: Request) -> JSONResponse:
        p = await params(request)
        return await answer(lambda: _query_param(lambda: _instant(querier, p, now())), p)

    async def query_range(request: Request) -> JSONResponse:
        p = await params(request)
        return await answer(lambda: _query_param(lambda: _range(querier, p)), p)

    async def series(request: Request) -> JSONResponse:
        p = await params(request)
        return await answer(lambda: _limited(_series(store, p), p), p)

    async def labels(request: Request) -> JSONResponse:
        p = await params(request)
        return await answer(lambda: _limited(_label_names(store, p), p), p)

    async def label_values(name: str, request: Request) -> JSONResponse:
        p = await params(request)
        return await answer(lambda: _limited(_label_values(store, name, p), p), p)

    async def query_exemplars(request: Request) -> JSONResponse:
        """The store keeps no exemplars: an empty answer, as Prometheus gives without any."""
        p = await params(request)
        return await answer(lambda: _query_param(lambda: _exemplars(p)), p)

    async def metadata(request: Request) -> JSONResponse:
        """Scrapes keep no TYPE/HELP yet: an empty map, Prometheus's shape (Grafana asks)."""
        return await answer(dict, await params(request))

    async def buildinfo(request: Request) -> JSONResponse:
        return await answer(lambda: BUILD_INFO, await params(request))

    for path, handler in (
        ("/query", query),
        ("/query_range", query_range),
        ("/series", series),
        ("/labels", labels),
        ("/query_exemplars", query_exemplars),
    ):
        for method in ("GET", "POST"):  # one operation each: OpenAPI ids must be unique
            name = f"prometheus_{path.strip('/')}_{method.lower()}"
            router.add_api_route(path, handler, methods=[method], operation_id=name)
    router.add_api_route("/label/{name}/values", label_values, methods=["GET"])
    router.add_api_route("/metadata", metadata, methods=["GET"])
    router.add_api_route("/status/buildinfo", buildinfo, methods=["GET"])
    return router


_ERROR_TYPES = {400: "bad_data", 422: "execution", 503: "unavailable"}


def error_type(status: int) -> str:
    """Prometheus's errorType for an HTTP status, as its API pairs them."""
    return _ERROR_TYPES.get(status, "internal")


def _exemplars(p: dict[str, list[str]]) -> list[dict[str, Any]]:
    parse(_one(p, "query"))  # a bad query is refused as Prometheus refuses it
    return []


def _query_param(work: Any) -> Any:
    """Prometheus reports a query it cannot parse as a bad `query` parameter."""
    try:
        return work()
    except PromQLError as exc:
        if exc.position is None:
            raise
        raise BadData(f'invalid parameter "query": {exc}') from None


def _error(kind: str, message: str, status: int) -> JSONResponse:
    body = {"status": "error", "errorType": kind, "error": message}
    return JSONResponse(body, status_code=status)


def _one(p: dict[str, list[str]], name: str, default: str | None = None) -> str:
    values = p.get(name)
    if values:
        return values[-1]
    if default is None:
        raise BadData(f'invalid parameter "{name}": parameter is missing')
    return default


def parse_time(text: str, name: str = "time") -> float:
    """Unix seconds or RFC 3339, as Prometheus accepts."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise BadData(
            f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp'
        ) from None


def parse_step(text: str, name: str = "step") -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        raise BadData(
            f'invalid parameter "{name}": cannot parse "{text}" to a valid duration'
        ) from None


def _instant(engine: Querier, p: dict[str, list[str]], now: float) -> dict[str, Any]:
    t = parse_time(_one(p, "time", repr(now)))
    return serialise(engine.instant(_one(p, "query"), t), t)


def _range(engine: Querier, p: dict[str, list[str]]) -> dict[str, Any]:
    start = parse_time(_one(p, "start"), "start")
    end = parse_time(_one(p, "end"), "end")
    step = parse_step(_one(p, "step"))
    if end < start:
        raise BadData('invalid parameter "end": end timestamp must not be before start time')
    if step <= 0:
        raise BadData(
            'invalid parameter "step": zero or negative query resolution step widths are '
            "not accepted. Try a positive integer"
        )
    if (end - start) / step > _MAX_POINTS:
        raise BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    expr = _one(p, "query")
    _check_range_type(expr)
    return serialise(engine.range(expr, start, end, step), end)


def _check_range_type(expr: str) -> None:
    """Prometheus refuses a range query over a string or range vector before evaluating
    it, as bad_data (400), not as an execution error."""
    node = parse(expr)
    while type(node).__name__ == "ParenExpr":
        node = node.expr
    kind = _NOT_RANGEABLE.get(type(node).__name__)
    if kind is not None:
        raise BadData(
            f'invalid expression type "{kind}" for range query, must be Scalar or instant Vector'
        )


def _series(store: SeriesStore, p: dict[str, list[str]]) -> list[dict[str, str]]:
    if not p.get("match[]"):
        raise BadData("no match[] parameter provided")
    return [dict(x) for x in _matching(store, p)]


def _matching(store: SeriesStore, p: dict[str, list[str]]) -> list[Labels]:
    """The label sets of the series that `match[]` selects with samples in [start, end]."""
    start = round(parse_time(_one(p, "start"), "start") * 1000) if "start" in p else MIN_T
    end = round(parse_time(_one(p, "end"), "end") * 1000) if "end" in p else MAX_T
    found: dict[Labels, None] = {}
    for selector in p["match[]"]:
        for labels in store.series(matchers_of(selector), start, end):
            found[labels] = None
    return sorted(found)


def _label_names(store: SeriesStore, p: dict[str, list[str]]) -> list[str]:
    """Every label name, or with `match[]` those of the series it selects (as Prometheus)."""
    if not p.get("match[]") and "start" not in p and "end" not in p:
        return store.label_names()
    if not p.get("match[]"):
        p = {**p, "match[]": ['{__name__=~".+"}']}
    return sorted({name for labels in _matching(store, p) for name, _ in labels})


def _label_values(store: SeriesStore, name: str, p: dict[str, list[str]]) -> list[str]:
    if not p.get("match[]") and "start" not in p and "end" not in p:
        return store.label_values(name)
    if not p.get("match[]"):
        p = {**p, "match[]": ['{__name__=~".+"}']}
    return sorted({v for labels in _matching(store, p) for n, v in labels if n == name})


def _limited(found: list[Any], p: dict[str, list[str]]) -> list[Any]:
    """At most `limit` results (0 or none: all), as Prometheus 2.48+ answers `limit`."""
    text = _one(p, "limit", "0")
    if not text.isdigit():
        raise BadData(f'invalid parameter "limit": cannot parse "{text}" to a valid limit')
    limit = int(text)
    return found[:limit] if limit else found


def format_value(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64), as Prometheus writes sample values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    if "e" in text or "E" in text:
        from numpy import format_float_positional

        return str(format_float_positional(value, trim="-"))
    return text[:-2] if text.endswith(".0") else text


def _ts(seconds: float) -> float | int:
    return int(seconds) if float(seconds).is_integer() else round(seconds, 3)


def serialise(value: Value, t: float) -> dict[str, Any]:
    """The `data` member of a query answer."""
    if isinstance(value, Scalar):
        return {"resultType": "scalar", "result": [_ts(t), format_value(value.value)]}
    if isinstance(value, String):
        return {"resultType": "string", "result": [_ts(t), value.value]}
    if isinstance(value, Vector):
        rows = [
            {"metric": dict(labels), "value": [_ts(t), format_value(v)]}
            for labels, v in value.samples()
        ]
        return {"resultType": "vector", "result": rows}
    return {"resultType": "matrix", "result": [_matrix_row(s) for s in value.series]}


def _matrix_row(series: Any) -> dict[str, Any]:
    points = zip(series.timestamps.tolist(), series.values.tolist(), strict=True)
    return {
        "metric": dict(series.labels),
        "values": [[_ts(t / 1000), format_value(v)] for t, v in points],
    }


__all__ = ["Matrix", "format_value", "prometheus_api", "serialise"]

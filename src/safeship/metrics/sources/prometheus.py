"""The `prometheus` metrics source: analysis queries sent to a real Prometheus over HTTP.

Where it sits: when the spec says `metrics.source.prometheus`, the reconciler's `measure`
runs the shared PromQL of `query.py` against that server's /api/v1/query (or against
`safeship serve`, which answers the same API); an unreachable server is an inconclusive
measurement, never an exception.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

import httpx

from safeship.config.metrics import PrometheusSourceSpec, TlsSpec
from safeship.core.clock import Clock
from safeship.core.secrets import resolve_secret
from safeship.metrics.sources.query import QueryMetricsSource, Sample, SourceError


class HttpQuerier:
    """A real Prometheus (or safeship serve) through its /api/v1/query."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/") + "/api/v1/query"
        self.client = client or httpx.AsyncClient(trust_env=False, timeout=10.0)

    async def instant(self, expr: str, t: float) -> list[Sample]:
        try:
            response = await self.client.post(self.url, data={"query": expr, "time": f"{t:.3f}"})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceError(f"metrics source {self.url} unreachable: {exc}") from exc
        if body.get("status") != "success":
            raise SourceError(f"query {expr!r}: {body.get('error', response.status_code)}")
        return _samples(body.get("data", {}), expr)


def _samples(data: Mapping[str, object], expr: str) -> list[Sample]:
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return [({}, float(result[1]))]
    if kind == "vector" and isinstance(result, list):
        return [(dict(item["metric"]), float(item["value"][1])) for item in result]
    raise SourceError(f"query {expr!r}: expected an instant vector or a scalar, got {kind}")


def http_client(spec: PrometheusSourceSpec) -> httpx.AsyncClient:
    """A client for `spec`'s server: its auth and TLS settings, secrets resolved only here."""
    headers, auth = {}, None
    if spec.bearer_token is not None:
        headers["Authorization"] = (
            f"Bearer {resolve_secret(spec.bearer_token.get_secret_value(), environ=os.environ)}"
        )
    if spec.basic_auth is not None:
        password = resolve_secret(spec.basic_auth.password.get_secret_value(), environ=os.environ)
        auth = httpx.BasicAuth(spec.basic_auth.username, password)
    return httpx.AsyncClient(
        trust_env=False, timeout=10.0, headers=headers, auth=auth, verify=_verify(spec.tls)
    )


def _verify(tls: TlsSpec | None) -> ssl.SSLContext | bool:
    if tls is None:
        return True
    if tls.insecure_skip_verify:
        return False
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file is not None and tls.key_file is not None:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


class PrometheusMetricsSource(QueryMetricsSource):
    """Analysis through a real Prometheus at `url`."""

    def __init__(
        self, url: str, *, service: str, clock: Clock, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(HttpQuerier(url, client=client), service=service, clock=clock)

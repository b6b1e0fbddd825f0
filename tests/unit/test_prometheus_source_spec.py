"""`metrics.source.prometheus`: a URL (with any path prefix) or a URL with auth and TLS whose
secrets are resolved from the environment only when the client is built, never stored."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError

from safeship.config.metrics import MetricsSourceSpec
from safeship.core.secrets import MASK, scrub
from safeship.metrics.sources.prometheus import HttpQuerier, http_client


def source(value: object) -> MetricsSourceSpec:
    return MetricsSourceSpec.model_validate({"prometheus": value})


def test_a_plain_url_is_short_for_an_object_and_keeps_its_path_prefix() -> None:
    spec = source("http://127.0.0.1:8470/prometheus/")
    assert spec.prometheus is not None and spec.prometheus.url == "http://127.0.0.1:8470/prometheus"
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    asyncio.run(HttpQuerier(spec.prometheus.url, client=client).instant("1", 0))
    assert seen == ["/prometheus/api/v1/query"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {
                "url": "http://p",
                "bearerToken": "t",
                "basicAuth": {"username": "u", "password": "p"},
            },
            "one of",
        ),
        ({"url": "http://p", "tls": {"certFile": "c.pem"}}, "keyFile"),
        ({"url": "p:9090"}, "http"),
    ],
)
def test_contradictions_are_refused(value: object, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        source(value)


def test_tokens_come_from_the_environment_and_are_masked_once_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROM_TOKEN", "tok-prom-77")
    spec = source({"url": "http://p", "bearerToken": "${PROM_TOKEN}"})
    assert spec.prometheus is not None
    client = http_client(spec.prometheus)
    assert client.headers["Authorization"] == "Bearer tok-prom-77"
    assert scrub("sent tok-prom-77") == f"sent {MASK}"
    stored = spec.model_dump(mode="json", by_alias=True)
    assert stored["prometheus"]["bearerToken"] == "${PROM_TOKEN}"  # a reference may be stored
    literal = source({"url": "http://p", "basicAuth": {"username": "u", "password": "hunter22"}})
    assert "hunter22" not in str(literal.model_dump(mode="json")) + repr(literal)
    asyncio.run(client.aclose())

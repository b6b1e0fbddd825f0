"""/api/v1/analytics over the real app and a SQLite state database, on a fake clock: ingest
(JSON, NDJSON, gzip, limits, roles), dead letters, de-dup across a restart, reads."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from safeship.config.events import EventsSpec
from safeship.core.clock import VirtualClock
from safeship.events.pipeline import EventHub
from safeship.events.storage import EventStorage
from safeship.metrics.promql import Engine
from safeship.metrics.promql.values import Vector
from safeship.metrics.store import SeriesStore
from safeship.server.analytics_api import mount_analytics
from safeship.store.repository import Store
from safeship.store.tokens import Role
from tests.api_kit import api_app, tokens

T0 = 1_700_000_040.0
CONFIG = EventsSpec(max_batch_bytes=64 * 1024, max_batch_events=500)


def event(n: int, *, service: str = "pay", level: str = "info", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"e{n}",
        "service": service,
        "timestamp": T0 + n % 60,
        "latency_ms": 20 + n % 7,
        "level": level,
        **extra,
    }


class Plane:
    def __init__(self, folder: Path) -> None:
        self.url = f"sqlite:///{folder / 'state.db'}"
        self.clock = VirtualClock(T0 + 30)
        self.state = Store.open(self.url)
        self.tokens = tokens(self.state)
        self.series = SeriesStore(retention=3600)
        self.client = self.start()

    def start(self) -> TestClient:
        self.hub = EventHub(
            CONFIG, storage=EventStorage.open(self.url), store=self.series, clock=self.clock
        )
        self.hub.restore()
        app = api_app(self.state, clock=self.clock)
        mount_analytics(app, hub=self.hub, store=self.state, clock=self.clock)
        return TestClient(app)

    def restart(self) -> None:
        self.hub.storage.close()
        self.series = SeriesStore(retention=3600)
        self.client = self.start()

    def post(self, body: bytes, *, role: Role = Role.ingest, **headers: str) -> Any:
        headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return self.client.post("/api/v1/analytics/events", content=body, headers=headers)

    def get(self, path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[Role.viewer]}"}
        answer = self.client.get(f"/api/v1/analytics{path}", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def value(self, promql: str) -> float:
        result = Engine(self.series).instant(promql, self.clock.now())
        assert isinstance(result, Vector) and len(result) == 1, result
        return float(result.values[0])


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    made = Plane(tmp_path)
    yield made
    made.hub.storage.close()
    made.state.close()


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in events)


def test_a_gzipped_ndjson_batch_is_counted_and_queryable_with_promql(plane: Plane) -> None:
    events = [event(n, level="error" if n % 10 == 0 else "info", version="v2") for n in range(200)]
    answer = plane.post(gzip.compress(ndjson(events)), **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 200
    assert plane.value('sum(safeship_events_total{service="pay",version="v2"})') == 200
    assert plane.value("sum(safeship_events_errors_total)") == 20
    p99 = plane.value('safeship_event_latency_seconds{quantile="0.99"}')
    assert p99 == pytest.approx(0.026, rel=0.02)


def test_only_ingest_operator_and_admin_tokens_may_send_and_ingest_reads_nothing(
    plane: Plane,
) -> None:
    body = orjson.dumps([event(1)])
    assert plane.post(body, role=Role.viewer).status_code == 403
    assert plane.post(body, role=Role.operator).status_code == 200
    ingest = {"Authorization": f"Bearer {plane.tokens[Role.ingest]}"}
    assert plane.client.get("/api/v1/analytics/stats", headers=ingest).status_code == 403
    assert plane.client.get("/api/v1/rollouts", headers=ingest).status_code == 403
    assert plane.client.post("/api/v1/analytics/events", content=body).status_code == 401


def test_batches_over_the_limits_are_refused_with_413(plane: Plane) -> None:
    assert plane.post(b" " * (65 * 1024)).status_code == 413
    assert plane.post(orjson.dumps([event(n) for n in range(501)])).status_code == 413
    bomb = gzip.compress(b" " * (10 * 1024 * 1024))
    assert plane.post(bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    assert plane.get("/stats")["streams"][0]["accepted"] == 0


def test_malformed_events_are_dead_lettered_with_their_reason(plane: Plane) -> None:
    body = ndjson([event(1), {"service": "pay"}]) + b"\n{oops\n"
    answer = plane.post(body).json()
    assert (answer["accepted"], answer["malformed"]) == (1, 2)
    reasons = sorted(d["reason"] for d in plane.get("/dead-letters"))
    assert reasons == ["expected a timestamp at 'timestamp'", "expected one JSON object per line"]
    assert plane.get("/stats")["dead_letters"] == 2


def test_a_batch_sent_again_after_a_restart_counts_once(plane: Plane) -> None:
    body = orjson.dumps([event(n) for n in range(50)])
    assert plane.post(body).json()["accepted"] == 50
    plane.restart()
    assert plane.value("sum(safeship_events_total)") == 50  # restored windows republished
    again = plane.post(body).json()
    assert (again["accepted"], again["duplicates"]) == (0, 50)
    assert plane.value("sum(safeship_events_total)") == 50


def test_windows_services_and_sla_read_back(plane: Plane) -> None:
    batch = [event(n, service="pay") for n in range(90)] + [
        event(100 + n, service="auth", level="error" if n < 3 else "info") for n in range(10)
    ]
    plane.post(orjson.dumps(batch))
    (window,) = plane.get("/metrics", service="auth", window="1m", **{"from": "-10m"})
    assert (window["count"], window["errors"], window["error_ratio"]) == (10, 3, 0.3)
    health = {s["service"]: s["health"] for s in plane.get("/services")}
    assert health == {"auth": "failing", "pay": "ok"}
    sla = plane.get("/sla", service="auth", since="1h")
    assert (sla["count"], sla["availability"]) == (10, 0.7)

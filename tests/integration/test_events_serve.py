"""Events through a real `safeship serve` and the CLI: `events send` (gzipped NDJSON batches,
an ingest token) is counted, malformed lines are dead-lettered, and the windows answer
PromQL, `events stats`, `events tail` and `safeship sla`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from safeship.cli.main import app
from safeship.store.repository import Store
from safeship.store.tokens import Role
from tests.integration.events_kit import start_serve

pytestmark = pytest.mark.integration


@dataclass
class Plane:
    url: str
    folder: Path
    tokens: dict[str, str]

    def cli(self, *args: str, role: str) -> tuple[int, str]:
        """The `safeship` command in-process (an interpreter per call would cost seconds)."""
        env = {"SAFESHIP_SERVER": self.url, "SAFESHIP_TOKEN": self.tokens[role]}
        done = CliRunner().invoke(app, list(args), env=env)
        return done.exit_code, done.output


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    folder = tmp_path_factory.mktemp("events")
    db = f"sqlite:///{folder / 'state.db'}"
    config = folder / "safeship.yaml"
    config.write_text("events:\n  streams:\n    - name: web\n      fields: {values: [risk]}\n")
    with Store.open(db) as store:
        tokens = {
            r: store.create_token(name=r, role=Role(r), actor="test")[1]
            for r in ("ingest", "viewer")
        }
    process, url = start_serve(folder, db, config)
    try:
        yield Plane(url, folder, tokens)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_events_sent_with_the_cli_are_counted_and_answer_promql(plane: Plane) -> None:
    now = time.time()
    lines = [
        orjson.dumps(
            {
                "id": i,
                "service": "checkout",
                "timestamp": now - 1,
                "latency_ms": 5 + i % 10,
                "level": "error" if i % 100 == 0 else "info",
                "risk": i % 4,
            }
        )
        for i in range(3000)
    ]
    source = plane.folder / "events.ndjson"
    source.write_bytes(b"\n".join([*lines, b"{broken", b'{"service": "checkout"}']))
    code, out = plane.cli("events", "send", str(source), "--batch", "1000", role="ingest")
    assert code == 0, out
    assert "accepted 3000" in out and "malformed 2" in out
    query = 'sum(sum_over_time(safeship_events_total{service="checkout"}[5m]))'
    answer = httpx.get(f"{plane.url}/prometheus/api/v1/query", params={"query": query}).json()
    assert answer["data"]["result"][0]["value"][1] == "3000"
    risk = "max(max_over_time(safeship_event_risk_max[5m]))"
    answer = httpx.get(f"{plane.url}/prometheus/api/v1/query", params={"query": risk}).json()
    assert answer["data"]["result"][0]["value"][1] == "3"


def test_stats_tail_and_sla_read_what_was_counted(plane: Plane) -> None:
    code, out = plane.cli("events", "stats", "--format", "json", role="viewer")
    assert code == 0, out
    stats = json.loads(out)
    (web,) = stats["streams"]
    assert (web["accepted"], web["duplicates"], web["malformed"]) == (3000, 0, 2)
    assert stats["dead_letters"] == 2
    code, out = plane.cli("events", "tail", "--once", role="viewer")
    assert "service=checkout events=3000 errors=30" in out
    code, out = plane.cli("sla", "checkout", "--since", "1h", role="viewer")
    assert code == 0, out
    assert "checkout over 1h: 99.000% (30 errors in 3000)" in out

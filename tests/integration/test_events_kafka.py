"""The Kafka source against librdkafka's mock cluster (`test.mock.num.brokers`: the Kafka
wire protocol, consumer groups and committed offsets, in-process): offsets are committed only
after the windows are stored, a crash between the two re-reads the batch and counts none of
it twice, and a group that re-reads everything counts nothing twice."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from safeship.config.events import EventsSpec, KafkaSource
from safeship.core.clock import SystemClock
from safeship.events.kafka_source import run
from safeship.events.pipeline import EventHub, StreamPipeline
from safeship.events.storage import EventStorage

pytestmark = pytest.mark.integration
N = 3000
TOPIC = "events"


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    owner = Producer({"test.mock.num.brokers": 1})  # the cluster lives as long as this client
    (broker,) = owner.list_topics(timeout=10).brokers.values()
    now = time.time()
    for i in range(N):
        event = {"id": f"k{i}", "service": "ledger", "timestamp": now, "latency_ms": i % 50}
        owner.produce(TOPIC, orjson.dumps(event))
    owner.flush(10)
    yield f"{broker.host}:{broker.port}"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[StreamPipeline]:
    storage = EventStorage.open(f"sqlite:///{tmp_path / 'state.db'}")
    hub = EventHub(EventsSpec(grace=600), storage=storage, store=None, clock=SystemClock())
    hub.restore()
    yield hub.http_stream(None)
    storage.close()


class CrashAfterStoring:
    """The pipeline, but the process "dies" after the 3rd batch is stored, before its commit."""

    def __init__(self, inner: StreamPipeline) -> None:
        self.inner, self.config, self.batches = inner, inner.config, 0

    def ingest(self, events: list[Any], **kwargs: Any) -> Any:
        result = self.inner.ingest(events, **kwargs)
        self.batches += 1
        if self.batches == 3:
            raise RuntimeError("killed between the commit of the windows and of the offsets")
        return result


def consume_until(pipeline: Any, source: KafkaSource, done: Any, *, limit_s: float = 20) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=lambda: _quiet(run, pipeline, source, stop=stop))
    worker.start()
    deadline = time.monotonic() + limit_s
    while not done() and time.monotonic() < deadline and worker.is_alive():
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=10)


def _quiet(*args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the simulated crash
        args[0](*args[1:], **kwargs)


def test_a_crash_before_the_offset_commit_re_reads_the_batch_and_counts_it_once(
    bootstrap: str, pipeline: StreamPipeline
) -> None:
    source = KafkaSource(
        bootstrap_servers=bootstrap, topic=TOPIC, group="ledger", batch=200, session_timeout=3
    )
    crashing = CrashAfterStoring(pipeline)
    consume_until(crashing, source, lambda: crashing.batches >= 3)
    stored = pipeline.stats.totals.accepted
    assert 0 < stored < N
    consume_until(pipeline, source, lambda: pipeline.stats.totals.accepted >= N)
    totals = pipeline.stats.totals
    assert totals.accepted == N
    assert 0 < totals.duplicates <= 200  # the uncommitted batch, and only it, came again

    replay = KafkaSource(
        bootstrap_servers=bootstrap, topic=TOPIC, group="replay", batch=500, session_timeout=3
    )
    before = totals.duplicates
    consume_until(pipeline, replay, lambda: totals.duplicates >= before + N)
    assert (totals.accepted, totals.duplicates) == (N, before + N)

"""At least once, counted exactly once: events from the real NATS JetStream server, the
consumer (inside `safeship serve`) killed with SIGKILL mid-stream and restarted."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

import nats
import orjson
import pytest

from tests.integration.events_kit import counted, start_serve

pytestmark = pytest.mark.integration
N = 10_000


async def publish(subject: str, stream: str) -> None:
    connection = await nats.connect("nats://127.0.0.1:4222")
    js = connection.jetstream()
    await js.add_stream(name=stream, subjects=[subject])
    now = time.time()
    for i in range(N):
        event = {"id": f"o-{i}", "service": "orders", "timestamp": now, "latency_ms": i % 90}
        await connection.publish(subject, orjson.dumps(event))
    await connection.flush()
    await connection.close()


async def pending(stream: str, durable: str) -> tuple[int, int]:
    connection = await nats.connect("nats://127.0.0.1:4222")
    info = await connection.jetstream().consumer_info(stream, durable)
    await connection.jetstream().delete_stream(stream)
    await connection.close()
    return info.num_pending, info.num_ack_pending


def test_every_event_counts_once_across_a_sigkill_of_the_consumer(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:10]
    stream, subject = f"SAFESHIP_{tag}", f"safeship.test.{tag}"
    config = tmp_path / "safeship.yaml"
    config.write_text(
        "events:\n  grace: 10m\n  streams:\n    - name: orders\n      source:\n        nats:\n"
        f"          stream: {stream}\n          subject: {subject}\n"
        "          durable: orders\n          ackWait: 1s\n          batch: 20\n"
    )
    db_file = tmp_path / "state.db"
    asyncio.run(publish(subject, stream))
    process, _ = start_serve(tmp_path, f"sqlite:///{db_file}", config)
    deadline = time.monotonic() + 60
    while counted(db_file, "orders") < N // 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    at_kill = counted(db_file, "orders")
    assert 0 < at_kill < N, "the kill must land mid-stream"

    process, _ = start_serve(tmp_path, f"sqlite:///{db_file}", config)
    try:
        deadline = time.monotonic() + 90
        while counted(db_file, "orders") < N and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # past ackWait: anything redelivered late would show now
        assert counted(db_file, "orders") == N, at_kill
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert asyncio.run(pending(stream, "orders")) == (0, 0)

"""The Kafka source: a consumer group (confluent-kafka, librdkafka) feeding one stream.

Where it sits: an event source of "event sources ─▶ windows" (DESIGN §2), run by the wiring
like the NATS consumer. Auto-commit is off: after each poll of up to `batch` messages, the
events are counted by `StreamPipeline.ingest` (durable on return) and only then are the
offsets committed, synchronously. A process killed before the commit re-reads those messages
from the last committed offsets and the event ids make them duplicates. A failed ingest
commits nothing: the consumer is closed and reopened, so it resumes from the committed
offsets instead of skipping ahead. librdkafka blocks, so the loop runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError

from safeship.config.events import KafkaSource
from safeship.core.clock import Clock
from safeship.core.errors import SafeshipError
from safeship.events.decode import decode
from safeship.events.pipeline import StreamPipeline
from safeship.events.schema import Malformed

log = logging.getLogger(__name__)
RETRY_S = 2.0
POLL_S = 0.5


async def consume(pipeline: StreamPipeline, source: KafkaSource, *, clock: Clock) -> None:
    """Consume forever on a worker thread; stops when the task is cancelled."""
    stop = threading.Event()
    try:
        while True:
            try:
                await asyncio.to_thread(run, pipeline, source, stop=stop)
            except Exception as exc:  # the brokers went away, or the state database did
                log.warning("Kafka stream %s: %s; retrying in %gs", pipeline.name, exc, RETRY_S)
            await clock.sleep(RETRY_S)
    finally:
        stop.set()


def run(pipeline: StreamPipeline, source: KafkaSource, *, stop: threading.Event) -> None:
    """One consumer session until `stop` is set; raises (uncommitted) when a batch fails."""
    consumer = Consumer(
        {
            "bootstrap.servers": source.bootstrap_servers,
            "group.id": source.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(source.session_timeout * 1000),
            "heartbeat.interval.ms": max(100, int(source.session_timeout * 100)),
        }
    )
    try:
        consumer.subscribe([source.topic])
        while not stop.is_set():
            messages = consumer.consume(num_messages=source.batch, timeout=POLL_S)
            if messages:
                count(pipeline, messages)
                consumer.commit(asynchronous=False)  # only after the windows are stored
    finally:
        consumer.close()


def count(pipeline: StreamPipeline, messages: list[Any]) -> None:
    events: list[Any] = []
    bad: list[Malformed] = []
    limits = pipeline.config
    for message in messages:
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            raise SafeshipError(f"Kafka: {error.str()}")
        try:
            found, refused = decode(
                message.value() or b"",
                max_bytes=limits.max_batch_bytes,
                max_events=limits.max_batch_events,
            )
        except SafeshipError as exc:
            bad.append(Malformed(str(exc), (message.value() or b"")[:512].decode(errors="replace")))
            continue
        events.extend(found)
        bad.extend(refused)
    pipeline.ingest(events, malformed=bad)

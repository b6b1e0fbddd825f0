"""The NATS JetStream source: a durable pull consumer feeding one stream's pipeline.

Where it sits: an event source of "event sources ─▶ windows" (DESIGN §2), run by the wiring
beside the HTTP ingest. Each fetched message holds one event, a JSON array or NDJSON; the
fetch is counted by `StreamPipeline.ingest` and every message is acked only after that
returned, i.e. after the windows holding its events were committed. A process killed
between the commit and the acks gets those messages again (after `ackWait`) and the event
ids make them duplicates, so each event counts exactly once. A message that cannot be
decoded is dead-lettered and acked (redelivering it would never help); a failed commit acks
nothing, and the messages come back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError

from safeship.config.events import NatsSource
from safeship.core.clock import Clock
from safeship.core.errors import SafeshipError
from safeship.events.decode import decode
from safeship.events.pipeline import StreamPipeline
from safeship.events.schema import Malformed

log = logging.getLogger(__name__)
RETRY_S = 2.0


async def consume(pipeline: StreamPipeline, source: NatsSource, *, clock: Clock) -> None:
    """Consume forever; a lost connection or failed commit is retried after a pause."""
    while True:
        try:
            await _session(pipeline, source)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the server went away, or the state database did
            log.warning("NATS stream %s: %s; retrying in %gs", pipeline.name, exc, RETRY_S)
        await clock.sleep(RETRY_S)


async def _session(pipeline: StreamPipeline, source: NatsSource) -> None:
    connection = await nats.connect(source.url, max_reconnect_attempts=0)
    try:
        js = connection.jetstream()
        await _ensure_stream(js, source)
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=source.ack_wait,
            max_ack_pending=max(source.batch * 4, 1000),
        )
        subscription = await js.pull_subscribe(
            source.subject, durable=source.durable, stream=source.stream, config=config
        )
        while True:
            try:
                messages = await subscription.fetch(source.batch, timeout=1.0)
            except NatsTimeout:
                continue
            await _count(pipeline, messages)
    finally:
        await connection.close()


async def _ensure_stream(js: Any, source: NatsSource) -> None:
    """Create the stream when it does not exist (an existing one is used as it is)."""
    try:
        await js.stream_info(source.stream)
    except NotFoundError:
        await js.add_stream(name=source.stream, subjects=[source.subject])


async def _count(pipeline: StreamPipeline, messages: list[Any]) -> None:
    events: list[Any] = []
    bad: list[Malformed] = []
    limits = pipeline.config
    for message in messages:
        try:
            found, refused = decode(
                message.data,
                max_bytes=limits.max_batch_bytes,
                max_events=limits.max_batch_events,
            )
        except SafeshipError as exc:
            bad.append(Malformed(str(exc), message.data[:512].decode(errors="replace")))
            continue
        events.extend(found)
        bad.extend(refused)
    await asyncio.to_thread(pipeline.ingest, events, malformed=bad)  # durable on return
    await asyncio.gather(*(message.ack() for message in messages))

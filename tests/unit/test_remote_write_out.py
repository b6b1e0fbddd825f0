"""Remote write out: a queue tails the WAL and delivers every sample once the receiver takes it.

The receiver is safeship's own (metrics/remote_in.py) behind httpx's MockTransport, so what
arrives is decoded by the same rules a real receiver applies; the real Prometheus is in
tests/integration/test_remote_write.py. Time is a VirtualClock: backoffs take no time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec

import httpx
import numpy as np
import pytest

from safeship.config.remote_write import RemoteWriteConfig
from safeship.core.clock import VirtualClock
from safeship.core.errors import InvalidInput
from safeship.core.labels import make_labels
from safeship.metrics.index import equal
from safeship.metrics.remote_in import RemoteWriteReceiver
from safeship.metrics.remote_out import RemoteWriteQueue
from safeship.metrics.store import SeriesStore
from safeship.metrics.wal import Wal
from safeship.metrics.wal_replay import recover
from safeship.metrics.wal_tail import Position, PositionFile, WalTail

Handler = Callable[[httpx.Request], httpx.Response]
P = ParamSpec("P")


def synchronously(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


CONFIG = {
    "url": "http://receiver/api/v1/write",
    "name": "r",
    "bearer_token": "t0ken-for-the-test",
    "queue_config": {"max_samples_per_send": 7, "batch_send_deadline": "0s"},
}


class Receiver:
    """The far end: a store fed by a RemoteWriteReceiver; `down` answers that many 503s."""

    def __init__(self, *, down: int = 0, refuse: int = 0) -> None:
        self.store = SeriesStore()
        self._receiver = RemoteWriteReceiver(self.store)
        self.down, self.refuse, self.requests = down, refuse, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert request.headers["Content-Encoding"] == "snappy"
        assert request.headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert request.headers["Authorization"] == "Bearer t0ken-for-the-test"
        if self.down:
            self.down -= 1
            return httpx.Response(503)
        if self.refuse:
            self.refuse -= 1
            return httpx.Response(400)
        try:
            self._receiver.receive(request.content)
        except InvalidInput:
            return httpx.Response(400)
        return httpx.Response(204)

    def times(self, job: str) -> list[int]:
        found = self.store.select([equal("job", job)], -(1 << 40), 1 << 40)
        return sorted(int(t) for s in found for t in s.timestamps)


def logged(directory: Path) -> tuple[SeriesStore, Wal, np.ndarray]:
    store = SeriesStore()
    wal, _ = recover(directory, store, fsync_s=1.0, segment_bytes=4096)
    refs = np.asarray(
        [store.ref(make_labels({"__name__": "up", "job": f"j{i}"})) for i in range(3)]
    )
    return store, wal, refs


def queue_for(
    store: SeriesStore, wal: Wal, receiver: Handler, **config: object
) -> RemoteWriteQueue:
    positions = PositionFile(wal.directory / "remote_write" / "r.json")
    start = positions.load() or Position(*wal.position())
    return RemoteWriteQueue(
        RemoteWriteConfig.model_validate({**CONFIG, **config}),
        store=store,
        tail=WalTail(wal.directory, wal.position, start),
        position_file=positions,
        clock=VirtualClock(),
        client=httpx.AsyncClient(transport=httpx.MockTransport(receiver)),
    )


async def run_until(queue: RemoteWriteQueue, done: Callable[[], bool]) -> None:
    task = asyncio.create_task(queue.run())
    for _ in range(2000):
        if done():
            break
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done()


def scrape(store: SeriesStore, refs: np.ndarray, steps: range) -> None:
    for step in steps:
        store.append_refs(refs, step * 1000, np.full(refs.size, float(step)))


@synchronously
async def test_every_sample_reaches_the_receiver_through_an_outage(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    receiver = Receiver(down=5)
    queue = queue_for(store, wal, receiver)
    scrape(store, refs, range(1, 101))  # 300 samples over several segments
    await run_until(queue, lambda: receiver.times("j2") == [t * 1000 for t in range(1, 101)])
    assert receiver.times("j0") == receiver.times("j2") and receiver.down == 0
    assert queue.metrics.retried._value.get() > 0 and queue.metrics.sent._value.get() == 300
    assert queue.acknowledged == Position(*wal.position())
    wal.close()


@synchronously
async def test_a_restarted_queue_resumes_where_the_receiver_acknowledged(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    receiver = Receiver()
    first = queue_for(store, wal, receiver)
    scrape(store, refs, range(1, 21))
    await run_until(first, lambda: len(receiver.times("j0")) == 20)
    wal.close()

    again, wal, refs = logged(tmp_path)  # serve restarts: replay, then the queue from its file
    later = queue_for(again, wal, receiver)
    assert later.acknowledged == first.acknowledged
    scrape(again, refs, range(21, 41))
    before = receiver.requests
    await run_until(later, lambda: len(receiver.times("j0")) == 40)
    assert later.metrics.sent._value.get() == 60  # only what came after: nothing resent
    assert receiver.requests - before <= 60 // 7 + 2
    wal.close()


@synchronously
async def test_a_refused_batch_is_counted_failed_and_skipped(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    receiver = Receiver(refuse=1)
    queue = queue_for(store, wal, receiver)
    scrape(store, refs, range(1, 11))
    await run_until(queue, lambda: queue.acknowledged == Position(*wal.position()))
    assert queue.metrics.failed._value.get() == 7 and len(receiver.times("j2")) >= 7
    wal.close()


@synchronously
async def test_write_relabel_configs_drop_series_before_sending(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    receiver = Receiver()
    drop = [{"source_labels": ["job"], "regex": "j1", "action": "drop"}]
    queue = queue_for(store, wal, receiver, write_relabel_configs=drop)
    scrape(store, refs, range(1, 11))
    await run_until(queue, lambda: queue.acknowledged == Position(*wal.position()))
    assert receiver.times("j1") == [] and len(receiver.times("j0")) == 10
    assert queue.metrics.dropped._value.get() == 10
    wal.close()


def test_a_checkpoint_keeps_the_segments_a_queue_still_reads(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    scrape(store, refs, range(1, 200))
    held = wal.position()[0] - 3
    snapshot = store.checkpoint()
    assert snapshot is not None
    wal.write_checkpoint(snapshot, keep_from=held)
    names = sorted(p.name for p in tmp_path.glob("segment-*"))
    assert names[0] == f"segment-{held:08d}"
    wal.close()


@synchronously
async def test_a_run_cancelled_in_an_outage_loses_nothing_it_had_read(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    receiver = Receiver(down=10**9)
    queue = queue_for(store, wal, receiver)
    scrape(store, refs, range(1, 11))
    await run_until(queue, lambda: receiver.requests > 3)  # read, sent, retried, cancelled
    receiver.down = 0
    await run_until(queue, lambda: len(receiver.times("j1")) == 10)
    wal.close()


@synchronously
async def test_a_missing_token_file_is_retried_not_fatal(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    receiver = Receiver()
    secret = tmp_path / "token"
    queue = queue_for(store, wal, receiver, bearer_token=None, bearer_token_file=str(secret))
    scrape(store, refs, range(1, 4))
    await run_until(queue, lambda: queue.metrics.retried._value.get() > 0)
    secret.write_text("t0ken-for-the-test\n")
    await run_until(queue, lambda: len(receiver.times("j0")) == 3)
    wal.close()


@synchronously
async def test_basic_auth_is_sent_as_prometheus_sends_it(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    seen: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(204)

    config = RemoteWriteConfig.model_validate(
        {**CONFIG, "bearer_token": None, "basic_auth": {"username": "u", "password": "p4ss-word"}}
    )
    queue = RemoteWriteQueue(
        config,
        store=store,
        tail=WalTail(wal.directory, wal.position, Position(*wal.position())),
        position_file=PositionFile(tmp_path / "position.json"),
        clock=VirtualClock(),
        client=httpx.AsyncClient(transport=httpx.MockTransport(receiver)),
    )
    scrape(store, refs, range(1, 3))
    await run_until(queue, lambda: bool(seen))
    assert seen[0] == "Basic dTpwNHNzLXdvcmQ="  # base64 of u:p4ss-word
    wal.close()


@synchronously
async def test_only_records_sent_whole_count_as_acknowledged(tmp_path: Path) -> None:
    store, wal, refs = logged(tmp_path)
    receiver = Receiver()

    def accept_once(request: httpx.Request) -> httpx.Response:
        answer = receiver(request)
        receiver.down = 10**9  # the first batch is taken, then the receiver is gone
        return answer

    queue = queue_for(store, wal, accept_once)  # 7 samples a send, 3 a record (one a scrape)
    after: list[Position] = []
    for step in range(1, 5):
        scrape(store, refs, range(step, step + 1))
        after.append(Position(*wal.position()))
    await run_until(queue, lambda: receiver.requests > 2)
    assert receiver.times("j0") == [1000, 2000, 3000]  # the 7th sample is in record 3
    assert queue.acknowledged == after[1]  # records 1 and 2 only: 3 is resent after a restart
    wal.close()

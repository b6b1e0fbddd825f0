"""`remote_write:` of safeship.yaml in `safeship serve`: one queue per entry, after the replay.

Where it sits: `wiring/serve.py` starts these once the WAL is replayed (a queue reads the
WAL, metrics/remote_out.py). Each queue resumes from the position its receiver last
acknowledged, kept in `<wal dir>/remote_write/<name>.json`; a queue without one starts at the
end of the log (new samples only, as Prometheus does on its first start). The WAL keeps the
segments a queue still needs at checkpoints (wiring/wal.py), within the hot window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from safeship.config.remote_write import RemoteWriteConfig
from safeship.core.clock import Clock
from safeship.metrics.remote_out import RemoteWriteQueue
from safeship.metrics.store import SeriesStore
from safeship.metrics.wal_tail import Position, PositionFile, WalTail
from safeship.wiring.wal import StoreLog


def remote_write_queues(
    configs: list[RemoteWriteConfig],
    *,
    log: StoreLog,
    store: SeriesStore,
    clock: Clock,
    registry: CollectorRegistry,
) -> list[RemoteWriteQueue]:
    """The queues of `configs` over the replayed WAL of `log` (none when it is off)."""
    wal = log.wal
    if wal is None:
        return []
    queues = []
    for config in configs:
        positions = PositionFile(wal.directory / "remote_write" / f"{config.queue_name}.json")
        start = positions.load()
        if start is None:  # on record at once: a kill before the first send loses nothing
            start = Position(*wal.position())
            positions.save(start)
        tail = WalTail(wal.directory, wal.position, start)
        queue = RemoteWriteQueue(
            config,
            store=store,
            tail=tail,
            position_file=positions,
            clock=clock,
            registry=registry,
        )
        log.keep_for(_reading(queue))
        queues.append(queue)
    return queues


def _reading(queue: RemoteWriteQueue) -> Callable[[], int]:
    return lambda: queue.acknowledged.segment


async def run_queues(queues: list[RemoteWriteQueue]) -> None:
    try:
        await asyncio.gather(*(q.run() for q in queues))
    finally:
        for queue in queues:
            await queue.aclose()

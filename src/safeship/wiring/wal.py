"""The series store's WAL in `safeship serve`: where it lives, replay first, then checkpoints.

Where it sits: `wiring/serve.py` replays the WAL (metrics/wal_replay.py) before the scraper
or the rule manager starts, so the first evaluation after a restart sees the samples from
before it; readiness (wiring/readiness.py) says "replaying" until then. Afterwards a
checkpoint every half retention keeps the log about as long as the store's hot window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import make_url

from safeship.config.metrics import WalSpec
from safeship.core.clock import Clock
from safeship.metrics.store import SeriesStore
from safeship.metrics.wal import Wal, WalMetrics
from safeship.metrics.wal_format import segment_name
from safeship.metrics.wal_replay import recover

log = logging.getLogger(__name__)
MIN_CHECKPOINT_EVERY_S = 60.0


def wal_directory(spec: WalSpec, state_url: str) -> Path:
    """`dir`, else `wal/` beside the SQLite state database, else ./.safeship/wal."""
    if spec.dir is not None:
        return Path(spec.dir)
    url = make_url(state_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).parent / "wal"
    return Path(".safeship") / "wal"


class StoreLog:
    """The store's WAL through one serve: replayed once, checkpointed, closed at the end."""

    def __init__(
        self,
        store: SeriesStore,
        spec: WalSpec,
        *,
        directory: Path,
        retention_s: float,
        registry: CollectorRegistry,
    ) -> None:
        self._store, self._spec, self._directory = store, spec, directory
        self._retention_s = retention_s
        self._metrics = WalMetrics(directory, registry) if spec.enabled else None
        self._wal: Wal | None = None
        self._replaying = spec.enabled
        self._readers: list[Callable[[], int]] = []  # segments remote-write queues still read

    def replaying(self) -> bool:
        """True until the replay is done; readiness asks."""
        return self._replaying

    async def replay(self) -> None:
        """Load the log into the store (in a thread: the event loop keeps answering probes)."""
        if not self._spec.enabled:
            return
        wal, report = await asyncio.to_thread(
            recover, self._directory, self._store, fsync_s=self._spec.fsync, metrics=self._metrics
        )
        self._wal, self._replaying = wal, False
        log.info(
            "WAL %s replayed: %d series, %d samples in %.2fs",
            self._directory, report.series, report.samples, report.seconds,
        )  # fmt: skip
        if report.cut_bytes:
            log.warning("WAL cut %d bad bytes at %s", report.cut_bytes, ", ".join(report.cut_at))

    async def keep_checkpoints(self, *, clock: Clock) -> None:
        """Checkpoint every half retention: older segments go, the log stays near the window."""
        every = max(MIN_CHECKPOINT_EVERY_S, self._retention_s / 2)
        while self._wal is not None:
            await clock.sleep(every)
            await asyncio.to_thread(self.checkpoint)

    @property
    def wal(self) -> Wal | None:
        """The log once replayed (None before, or when it is off)."""
        return self._wal

    def keep_for(self, reader: Callable[[], int]) -> None:
        """Keep the segments from `reader()` on at checkpoints, within the hot window."""
        self._readers.append(reader)

    def checkpoint(self) -> None:
        snapshot = self._store.checkpoint()
        if snapshot is not None and self._wal is not None:
            self._wal.write_checkpoint(snapshot, keep_from=self._keep_from())

    def _keep_from(self) -> int | None:
        """The oldest segment a reader needs, unless it was written before the hot window:
        an outage longer than the retention loses what left the window, as in the store."""
        needed = [reader() for reader in self._readers]
        oldest = time.time() - self._retention_s
        for segment in sorted(needed):
            path = self._directory / segment_name(segment)
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime >= oldest:
                    return segment
        return None

    def close(self) -> None:
        if self._wal is not None:
            self._store.log_to(None)
            self._wal.close()
            self._wal = None

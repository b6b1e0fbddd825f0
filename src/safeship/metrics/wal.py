"""The write-ahead log of the embedded series store: what survives a `kill -9` of serve.

Where it sits: "scrape ─▶ SeriesStore ─▶ Wal ─▶ <data dir>/wal/". The store logs every new
series and every appended batch here (under its lock, before applying it); on start
`metrics/wal_replay.py` reads it back before scraping or rules begin. Files:

- `segment-NNNNNNNN`: append-only frames (metrics/wal_format.py), a new one every 16 MiB;
- `checkpoint-NNNNNNNN`: every series plus the samples inside the store's retention, as of
  the start of segment N, written to a temporary file, fsynced and renamed; then the
  segments before N and older checkpoints are deleted, so the log tracks the hot window.

Durability: a write reaches the kernel at once (a killed process loses nothing written);
`fsync` is per batch (`fsync_s=0`) or from a background thread every `fsync_s` seconds, so
a power cut loses at most that much. `synced` says how many records are on disk.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry, Gauge, Histogram

from safeship.core.labels import Labels
from safeship.metrics.store import Floats, Ints, Snapshot, unpack_sid, unpack_time
from safeship.metrics.wal_format import (
    CHECKPOINT_PREFIX,
    SEGMENT_PREFIX,
    Buffers,
    checkpoint_name,
    encode_samples,
    encode_series,
    numbered,
    segment_name,
)

SEGMENT_BYTES = 16 * 1024 * 1024
_CHUNK = 1 << 20  # samples per checkpoint record: big enough to be fast, small to read back
_SERIES_CHUNK = 10_000


class WalMetrics:
    """The WAL's own series on serve's /metrics (prometheus_client, the passed-in registry)."""

    def __init__(self, directory: Path, registry: CollectorRegistry | None) -> None:
        self.size = Gauge(
            "safeship_wal_size_bytes", "Bytes of WAL segments and checkpoint", registry=registry
        )
        self.size.set_function(lambda: float(size_of(directory)))
        self.replay = Gauge(
            "safeship_wal_replay_duration_seconds", "How long the start-up replay took",
            registry=registry,
        )  # fmt: skip
        self.fsync = Histogram(
            "safeship_wal_fsync_duration_seconds", "fsync latency of the WAL", registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )  # fmt: skip
        self.cut = Gauge(
            "safeship_wal_replay_cut_bytes", "Bytes of torn or corrupt records cut at replay",
            registry=registry,
        )  # fmt: skip


def size_of(directory: Path) -> int:
    try:
        return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    except FileNotFoundError:
        return 0


class Wal:
    """Appends frames to the current segment; one lock orders writes, cuts and syncs."""

    def __init__(
        self,
        directory: Path,
        *,
        segment: int,
        fsync_s: float = 1.0,
        segment_bytes: int = SEGMENT_BYTES,
        metrics: WalMetrics | None = None,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._fsync_s, self._segment_bytes, self._metrics = fsync_s, segment_bytes, metrics
        self._lock = threading.Lock()
        self._segment = segment
        self._fd = self._open(segment)
        self._size = 0
        self._written = 0  # records written (to the kernel)
        self._synced = 0  # records known to be on disk
        self._sealed: list[int] = []  # fds of full segments, fsynced and closed off the hot path
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if fsync_s > 0:
            self._syncer = threading.Thread(target=self._sync_loop, name="wal-fsync", daemon=True)
            self._syncer.start()

    # -- the SampleLog the store calls -----------------------------------------------------
    def series(self, sid: int, labels: Labels) -> None:
        self._append(encode_series([(sid, labels)]))

    def samples(self, refs: Ints, times: Ints | int, values: Floats) -> None:
        self._append(encode_samples(refs, times, values))

    def cut(self) -> int:
        """Seal the current segment and start the next; its number."""
        with self._lock:
            self._rotate()
            return self._segment

    # -- durability ------------------------------------------------------------------------
    @property
    def synced(self) -> int:
        """How many records since open are fsynced (all written ones once `sync` returns)."""
        return self._synced

    @property
    def written(self) -> int:
        return self._written

    def sync(self) -> None:
        """fsync what was written so far; the write lock is held only to take the fds."""
        with self._lock:
            fds, upto = [*self._sealed, os.dup(self._fd)], self._written
            self._sealed = []
        for fd in fds:
            try:
                self._timed_fsync(fd)
            finally:
                os.close(fd)
        with self._lock:
            self._synced = max(self._synced, upto)

    def close(self) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        self.sync()
        with self._lock:
            os.close(self._fd)

    # -- checkpoints -----------------------------------------------------------------------
    def write_checkpoint(self, snapshot: Snapshot) -> Path:
        """Write `snapshot` as checkpoint N atomically, then drop what it replaces."""
        final = self.directory / checkpoint_name(snapshot.before)
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as out:
            for frame in _checkpoint_frames(snapshot):
                for part in frame:
                    out.write(part)
            out.flush()
            self._timed_fsync(out.fileno())
        os.replace(temporary, final)
        _fsync_dir(self.directory)
        self._drop_before(snapshot.before)
        return final

    def _drop_before(self, number: int) -> None:
        names = os.listdir(self.directory)
        for n, name in numbered(names, SEGMENT_PREFIX) + numbered(names, CHECKPOINT_PREFIX):
            if n < number:
                (self.directory / name).unlink(missing_ok=True)

    # -- internals -------------------------------------------------------------------------
    def _append(self, frame: Buffers) -> None:
        with self._lock:
            self._size += _write_all(self._fd, frame)
            self._written += 1
            if self._size >= self._segment_bytes:
                self._rotate()
        if self._fsync_s == 0:
            self.sync()

    def _rotate(self) -> None:
        """Called with the lock held: the full segment is fsynced by the next `sync`, so
        ingest never waits for 16 MiB to reach the disk."""
        self._sealed.append(self._fd)
        self._segment += 1
        self._fd = self._open(self._segment)
        self._size = 0

    def _open(self, number: int) -> int:
        path = self.directory / segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_dir(self.directory)  # the new file's name is durable too
        return fd

    def _timed_fsync(self, fd: int) -> None:
        started = time.perf_counter()
        os.fsync(fd)
        if self._metrics is not None:
            self._metrics.fsync.observe(time.perf_counter() - started)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._fsync_s):
            if self._synced < self._written or self._sealed:
                self.sync()


def _checkpoint_frames(snapshot: Snapshot) -> Iterator[Buffers]:
    """Series first (in id order, so replay gives them the same ids), then the samples."""
    series = list(enumerate(snapshot.labels))
    for i in range(0, len(series), _SERIES_CHUNK):
        yield encode_series(series[i : i + _SERIES_CHUNK])
    for i in range(0, snapshot.keys.size, _CHUNK):
        keys = snapshot.keys[i : i + _CHUNK]
        values = np.ascontiguousarray(snapshot.values[i : i + _CHUNK])
        yield encode_samples(unpack_sid(keys), unpack_time(keys), values)


def _write_all(fd: int, parts: Buffers) -> int:
    """writev until every byte is out (a short write is rare but legal); the byte count."""
    views = [memoryview(p).cast("B") for p in parts]
    total = sum(v.nbytes for v in views)
    while views:
        done = os.writev(fd, views)
        while views and done >= views[0].nbytes:
            done -= views[0].nbytes
            views.pop(0)
        if views:
            views[0] = views[0][done:]
    return total


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

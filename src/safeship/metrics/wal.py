"""The write-ahead log of the embedded series store: what survives a `kill -9` of serve.

Where it sits: "scrape ─▶ SeriesStore ─▶ Wal ─▶ <data dir>/wal/". The store logs every new
series and every appended batch here (under its lock, before applying it); on start
`metrics/wal_replay.py` reads it back before scraping or rules begin. Files:

- `segment-NNNNNNNN`: append-only frames (metrics/wal_format.py), a new one every 16 MiB.
  A segment is preallocated with `posix_fallocate` when it is opened (its blocks reserved,
  reading back as zeros), and its pages leave the page cache once it is sealed and fsynced.
  Where the cost goes at a sustained 160 MB/s (bench/wal.py): not the copy into the page
  cache but getting the pages for it. A thread that wrote each next segment full of zeros
  ahead of time spent as much CPU as the ingest saved, fell behind on two busy cores (half
  its segments came too late and were thrown away) and took the GIL 16 times per segment;
  fallocate costs microseconds and no thread (with an fsync per batch, see `Wal._open`);
- `checkpoint-NNNNNNNN`: every series plus the samples inside the store's retention, as of
  the start of segment N, written to a temporary file, fsynced and renamed; then the
  segments before N and older checkpoints are deleted, so the log tracks the hot window.

Durability: a write reaches the kernel at once (a killed process loses nothing written);
`fsync` is per batch (`fsync_s=0`) or from a background thread every `fsync_s` seconds, so
a power cut loses at most that much. `synced` says how many records are on disk.
"""

from __future__ import annotations

import contextlib
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
    encode_ref_set,
    encode_samples,
    encode_scrape,
    encode_series,
    numbered,
    segment_name,
)

SEGMENT_BYTES = 16 * 1024 * 1024
_REF_SET_MIN = 64  # a batch of fewer series logs its refs inline
_CACHED = 2  # sealed segments kept in the page cache (a remote-write tail reads them)
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
        self._created = False  # a segment was created: the directory needs an fsync
        self._fd = self._open(segment)
        _fsync_dir(directory)
        self._size = 0
        self._ref_sets: dict[tuple[int, int, int], tuple[int, Ints]] = {}  # key → number, refs
        self._ref_set_count = 0  # ref sets logged in this segment
        self._written = 0  # records written (to the kernel)
        self._synced = 0  # records known to be on disk
        self._sealed: list[int] = []  # fds of full segments, fsynced and closed off the hot path
        self._cached: list[int] = []  # fds of the newest fsynced sealed segments, still cached
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if fsync_s > 0:
            self._syncer = threading.Thread(target=self._sync_loop, name="wal-fsync", daemon=True)
            self._syncer.start()

    # -- the SampleLog the store calls -----------------------------------------------------
    def series(self, sid: int, labels: Labels) -> None:
        self._append(encode_series([(sid, labels)]))

    def samples(self, refs: Ints, times: Ints | int, values: Floats) -> None:
        if not isinstance(times, int) or refs.size < _REF_SET_MIN:
            self._append(encode_samples(refs, times, values))
            return
        refs = np.ascontiguousarray(refs, dtype=np.int64)
        key = (refs.size, int(refs[0]), int(refs[-1]))  # a hash of them costs as much as ==
        room = 64 + 16 * refs.size  # both frames, so they never straddle two segments
        with self._lock:
            self._make_room(room)
            number = self._ref_set(key, refs)
            if number is None:
                number = self._ref_set_count  # not len(): a set can replace one of its key
                self._ref_set_count += 1
                self._ref_sets[key] = (number, refs.copy())
                self._size += _write_all(self._fd, _views(encode_ref_set(number, refs)), self._size)
            self._write(encode_scrape(number, times, values))
        if self._fsync_s == 0:
            self.sync()

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
            sealed, current, upto = self._sealed, os.dup(self._fd), self._written
            self._sealed, created, self._created = [], self._created, False
        if created:
            _fsync_dir(self.directory)
        try:
            for fd in sealed:
                self._timed_fsync(fd)
            self._timed_fsync(current)
        except OSError:
            for fd in sealed:
                os.close(fd)
            raise
        finally:
            os.close(current)
        with self._lock:
            self._synced = max(self._synced, upto)
            self._cached.extend(sealed)
            drop, self._cached = self._cached[:-_CACHED], self._cached[-_CACHED:]
        _release(drop)

    def close(self) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        self.sync()
        with self._lock:
            os.close(self._fd)
            _release(self._cached)
            self._cached = []

    def position(self) -> tuple[int, int]:
        """(segment, byte offset) written so far: a reader of the log stops there."""
        with self._lock:
            return self._segment, self._size

    # -- checkpoints -----------------------------------------------------------------------
    def write_checkpoint(self, snapshot: Snapshot, *, keep_from: int | None = None) -> Path:
        """Write `snapshot` as checkpoint N atomically, then drop what it replaces, but the
        segments from `keep_from` on (a remote-write queue still reads them)."""
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
        self._drop_before(snapshot.before, keep_from=keep_from)
        return final

    def _drop_before(self, number: int, *, keep_from: int | None) -> None:
        names = os.listdir(self.directory)
        last = number if keep_from is None else min(number, keep_from)
        for n, name in numbered(names, SEGMENT_PREFIX):
            if n < last:
                (self.directory / name).unlink(missing_ok=True)
        for n, name in numbered(names, CHECKPOINT_PREFIX):
            if n < number:
                (self.directory / name).unlink(missing_ok=True)

    # -- internals -------------------------------------------------------------------------
    def _append(self, frame: Buffers) -> None:
        with self._lock:
            self._make_room(sum(memoryview(p).nbytes for p in frame))
            self._write(frame)
        if self._fsync_s == 0:
            self.sync()

    def _make_room(self, length: int) -> None:
        if self._size and self._size + length > self._segment_bytes:
            self._rotate()

    def _write(self, frame: Buffers) -> None:
        self._size += _write_all(self._fd, _views(frame), self._size)
        self._written += 1

    def _ref_set(self, key: tuple[int, int, int], refs: Ints) -> int | None:
        """The number of this segment's ref set equal to `refs`, None if not logged yet."""
        known = self._ref_sets.get(key)
        if known is not None and bool((known[1] == refs).all()):  # same size and ends: the key
            return known[0]
        return None

    def _rotate(self) -> None:
        """Called with the lock held: the full segment is fsynced by the next `sync`, so
        ingest never waits for 16 MiB to reach the disk."""
        self._sealed.append(self._fd)
        self._segment += 1
        self._fd = self._open(self._segment)
        self._size = 0
        self._ref_sets.clear()  # a segment's ref sets are logged in it: replay starts anywhere
        self._ref_set_count = 0

    def _open(self, number: int) -> int:
        """Segment `number`, created with its blocks reserved; its name reaches the disk with
        the next `sync` (before any record in it counts as synced). With an fsync per batch
        it is written full of zeros instead (one pwritev): a write into fallocated blocks
        changes the file's extents, so each fsync would commit the journal too (measured
        with 10k-sample batches: ~10 % fewer samples/s that way)."""
        path = self.directory / segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        if self._fsync_s == 0:
            _write_all(fd, _zeros(self._segment_bytes), 0)
        else:
            with contextlib.suppress(OSError):  # a file system without it: the file grows
                os.posix_fallocate(fd, 0, self._segment_bytes)
        self._created = True
        return fd

    def _timed_fsync(self, fd: int) -> None:
        started = time.perf_counter()
        os.fdatasync(fd)
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


def _zeros(size: int) -> list[memoryview]:
    """`size` zero bytes as buffers for one pwritev (one GIL hand-off, not one a MiB)."""
    chunk = memoryview(bytes(min(size, 1 << 20)))
    parts = [chunk] * (size // chunk.nbytes) + [chunk[: size % chunk.nbytes]]
    return [p for p in parts if p.nbytes]


def _views(frame: Buffers) -> list[memoryview]:
    return [memoryview(p).cast("B") for p in frame]


def _write_all(fd: int, views: list[memoryview], offset: int) -> int:
    """pwritev at `offset` until every byte is out (a short write is legal); the count."""
    total = sum(v.nbytes for v in views)
    while views:
        done = os.pwritev(fd, views, offset)
        offset += done
        while views and done >= views[0].nbytes:
            done -= views[0].nbytes
            views.pop(0)
        if views:
            views[0] = views[0][done:]
    return total


def _release(fds: list[int]) -> None:
    """Drop fsynced segments' clean pages from the page cache and close them, as PostgreSQL
    does with its WAL: the kernel then reuses those pages for the next segments instead of
    taking memory never touched, which costs 5x more in a VM (the host faults it in).
    Measured here, 16 MiB segments written one after another: ~30 us per 80 KB with the
    pages dropped after the fsync, ~170 us without once a few hundred MB were cached."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""The write-ahead log of the embedded series store: what survives a `kill -9` of serve.

Where it sits: "scrape ─▶ SeriesStore ─▶ Wal ─▶ <data dir>/wal/". The store logs every new
series and every appended batch here (under its lock, before applying it); on start
`metrics/wal_replay.py` reads it back before scraping or rules begin. Files:

- `segment-NNNNNNNN`: append-only frames (metrics/wal_format.py), a new one every 16 MiB.
  Segments are preallocated: a background thread writes the next one full of zeros and
  fsyncs it before it is needed (PostgreSQL's WAL does the same), so a batch is copied into
  pages already in the page cache (4x cheaper than growing a file page by page);
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
from crc32c import crc32c
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
        self._spare: tuple[int, int] | None = None  # (number, fd) of the preallocated next one
        self._spare_wanted = threading.Event()
        self._renamed = False  # a spare was renamed: the directory needs an fsync
        self._fd = self._open(segment, spare=False)
        self._size = 0
        self._ref_sets: dict[tuple[int, int], tuple[int, Ints]] = {}  # (size, crc) → number
        self._written = 0  # records written (to the kernel)
        self._synced = 0  # records known to be on disk
        self._sealed: list[int] = []  # fds of full segments, fsynced and closed off the hot path
        self._stop = threading.Event()
        self._preallocator = threading.Thread(target=self._preallocate_loop, daemon=True)
        self._preallocator.start()
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
        key = (refs.size, crc32c(refs.data))
        room = 64 + 16 * refs.size  # both frames, so they never straddle two segments
        with self._lock:
            self._make_room(room)
            number = self._ref_set(key, refs)
            if number is None:
                number = len(self._ref_sets)
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
            fds, upto = [*self._sealed, os.dup(self._fd)], self._written
            self._sealed, renamed, self._renamed = [], self._renamed, False
        if renamed:
            _fsync_dir(self.directory)
        for fd in fds:
            try:
                self._timed_fsync(fd)
            finally:
                os.close(fd)
        with self._lock:
            self._synced = max(self._synced, upto)

    def close(self) -> None:
        self._stop.set()
        self._spare_wanted.set()
        self._preallocator.join()
        if self._syncer is not None:
            self._syncer.join()
        self.sync()
        with self._lock:
            os.close(self._fd)
            if self._spare is not None:  # never written: not left behind as a segment
                os.close(self._spare[1])
                (self.directory / segment_name(self._spare[0])).unlink(missing_ok=True)

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

    def _ref_set(self, key: tuple[int, int], refs: Ints) -> int | None:
        """The number of this segment's ref set equal to `refs`, None if not logged yet."""
        known = self._ref_sets.get(key)
        if known is not None and bool((known[1] == refs).all()):  # same size: in the key
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

    def _open(self, number: int, *, spare: bool = True) -> int:
        """The preallocated spare when it is ready, else a new (growing) file."""
        ready, self._spare = self._spare, None
        self._spare_wanted.set()
        if ready is not None and ready[0] == number:
            return ready[1]
        if ready is not None:
            os.close(ready[1])
        path = self.directory / segment_name(number)
        if not spare:  # the first segment: preallocated here, once, at start
            fd = _zero_filled(path, self._segment_bytes)
            _fsync_dir(self.directory)
            return fd
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        _fsync_dir(self.directory)  # the new file's name is durable too
        return fd

    def _preallocate_loop(self) -> None:
        """Keep the next segment written with zeros and fsynced, off the ingest path. It is
        written under a temporary name and renamed only while still wanted, so it can never
        overwrite a segment the writer already opened itself. It runs niced: on busy cores it
        yields to ingest rather than compete with it."""
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while True:
            self._spare_wanted.wait()
            if self._stop.is_set():
                return
            self._spare_wanted.clear()
            with self._lock:
                number = self._segment + 1
            final = self.directory / segment_name(number)
            temporary = final.with_suffix(".tmp")
            fd = _zero_filled(temporary, self._segment_bytes)
            with self._lock:
                if self._spare is None and number == self._segment + 1:
                    os.rename(temporary, final)  # its name reaches the disk with `sync`
                    self._spare, fd, self._renamed = (number, fd), -1, True
            if fd >= 0:
                os.close(fd)
                temporary.unlink(missing_ok=True)

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


def _zero_filled(path: Path, size: int) -> int:
    """A file of `size` zero bytes in the page cache; its fd, open for writing. Not fsynced
    here: the first `sync` of the segment writes its size and zeros out with the data (a
    zero-filled fsync ahead of time could not keep pace with a fast ingest)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    zeros = bytes(1 << 20)
    for offset in range(0, size, len(zeros)):
        os.pwrite(fd, zeros[: size - offset], offset)
    return fd


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


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

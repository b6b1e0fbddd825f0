"""Start-up replay of the WAL into an empty store, cutting what is torn or corrupt.

Where it sits: `wiring/wal.py` calls `recover` before the scraper or the rule manager
starts, so the first rule evaluation after a restart sees the samples from before it. The
newest checkpoint is read first, then every segment from its number on, in order. A record
that does not check out (a torn tail from a kill mid-write, a flipped bit) or does not fit
(a sample of a series never logged, a series id out of order) ends the log: the file is
truncated there and later segments are deleted, like Prometheus' WAL repair. A start never
fails on a bad log; it only loses what came after the damage.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from safeship.metrics.store import SeriesStore
from safeship.metrics.wal import Wal, WalMetrics
from safeship.metrics.wal_format import (
    CHECKPOINT_PREFIX,
    SEGMENT_PREFIX,
    Kind,
    Record,
    numbered,
    read_records,
)


@dataclass
class ReplayReport:
    series: int = 0
    samples: int = 0
    files: int = 0
    cut_bytes: int = 0  # torn or corrupt bytes truncated, plus deleted later segments
    next_segment: int = 1
    seconds: float = 0.0
    cut_at: list[str] = field(default_factory=list)  # "file@offset" of every cut


def recover(
    directory: Path,
    store: SeriesStore,
    *,
    fsync_s: float,
    metrics: WalMetrics | None = None,
    segment_bytes: int | None = None,
) -> tuple[Wal, ReplayReport]:
    """Replay `directory` into `store`, then log the store's later writes to a new segment."""
    report = replay(directory, store)
    if metrics is not None:
        metrics.replay.set(report.seconds)
        metrics.cut.set(report.cut_bytes)
    sizing = {} if segment_bytes is None else {"segment_bytes": segment_bytes}
    wal = Wal(directory, segment=report.next_segment, fsync_s=fsync_s, metrics=metrics, **sizing)
    store.log_to(wal)
    return wal, report


def replay(directory: Path, store: SeriesStore) -> ReplayReport:
    """Load the checkpoint and the segments after it into `store` (which must be empty)."""
    started = time.perf_counter()
    report = ReplayReport()
    names = os.listdir(directory) if directory.is_dir() else []
    for name in names:
        if name.endswith(".tmp"):  # a checkpoint that was never finished
            (directory / name).unlink(missing_ok=True)
    checkpoints = numbered(names, CHECKPOINT_PREFIX)
    first = checkpoints[-1][0] if checkpoints else 1
    files = [directory / checkpoints[-1][1]] if checkpoints else []
    segments = [(n, name) for n, name in numbered(names, SEGMENT_PREFIX) if n >= first]
    files += [directory / name for _, name in segments]
    for index, path in enumerate(files):
        if not _apply_file(path, store, report):
            _drop(files[index + 1 :], report)
            break
    report.next_segment = max([first - 1] + [n for n, _ in segments]) + 1
    report.seconds = time.perf_counter() - started
    return report


def _apply_file(path: Path, store: SeriesStore, report: ReplayReport) -> bool:
    """Apply every good record of `path`; False (and the file cut) when it had a bad one."""
    data = path.read_bytes()
    records, end = read_records(data)
    report.files += 1
    for record in records:
        if not _apply(record, store, report):
            end = record.offset
            break
    if end == len(data) or not np.frombuffer(data, dtype=np.uint8, offset=end).any():
        return True  # the end of the file, or of what was written into a preallocated one
    with path.open("r+b") as f:
        f.truncate(end)
        os.fsync(f.fileno())
    report.cut_bytes += len(data) - end
    report.cut_at.append(f"{path.name}@{end}")
    return False


def _apply(record: Record, store: SeriesStore, report: ReplayReport) -> bool:
    """Apply one record; False when it does not fit what came before it."""
    if record.kind is Kind.SERIES:
        for sid, labels in record.series:
            if sid != len(store) or store.ref(labels) != sid:
                return False
        report.series += len(record.series)
        return True
    if record.kind is Kind.REFS:  # read_records fills them into the scrapes that use them
        return True
    batch = record.batch
    if batch is None:
        return False
    if batch.refs.size and (int(batch.refs.min()) < 0 or int(batch.refs.max()) >= len(store)):
        return False
    store.append_refs(batch.refs, batch.times, batch.values)
    report.samples += batch.refs.size
    return True


def _drop(paths: list[Path], report: ReplayReport) -> None:
    for path in paths:
        report.cut_bytes += path.stat().st_size
        report.cut_at.append(f"{path.name} (dropped)")
        path.unlink()

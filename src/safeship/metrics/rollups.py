"""Rollups: raw samples of the embedded store → per-series 1m / 5m / 1h buckets.

Sits between the in-memory store (hot, raw) and the SQL store (warm and cold history):
`bucketize` is a pure function of the store's columns, `Rollup` is the periodic job the
caller schedules; it hands finished buckets to a `RollupSink` (retention.RollupWriter).
Counters stay answerable across resets: each bucket keeps first/last and the increase
accumulated sample by sample, a reset counting the new value as the increase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from safeship.core.clock import Clock
from safeship.core.labels import Labels
from safeship.metrics.store import Floats, Ints, SeriesStore, StoreView, unpack_sid, unpack_time

RESOLUTIONS_S: tuple[int, ...] = (60, 300, 3600)
SERIES_PER_BLOCK = 8192


@dataclass(frozen=True)
class Buckets:
    """Rollup rows of one resolution: one per (series, bucket), sorted by series then start.

    NaN samples (staleness markers included) are left out: a bucket summarises numbers.
    """

    resolution_s: int
    sids: Ints
    starts_ms: Ints
    count: Ints
    sum: Floats
    min: Floats
    max: Floats
    first: Floats
    last: Floats
    increase: Floats

    def __len__(self) -> int:
        return int(self.sids.size)


@dataclass(frozen=True)
class Samples:
    """Window samples of a block of series, sorted by (series, time), with each series' value
    just before the window (NaN if none) so the first increase in the window is known."""

    sids: Ints
    times: Ints
    values: Floats
    before: Floats  # indexed by series id - base
    base: int = 0


def window_samples(view: StoreView, *, sids: range, start_ms: int, end_ms: int) -> Samples:
    """All samples with start_ms <= t < end_ms of the series in `sids`, NaNs dropped."""
    ids = np.arange(sids.start, sids.stop, dtype=np.int64)
    lo, hi = view.window_bounds(ids, start_ms, end_ms - 1)
    counts = hi - lo
    offsets = np.cumsum(counts) - counts
    total = int(counts.sum())
    pos = np.repeat(lo - offsets, counts) + np.arange(total, dtype=np.int64)
    values = view.values[pos]
    keep = ~np.isnan(values)
    return Samples(
        np.repeat(ids, counts)[keep],
        view.times(pos[keep]),
        values[keep],
        _values_before(view, ids, lo),
        sids.start,
    )


def blocks(series: int, *, size: int = SERIES_PER_BLOCK) -> Iterator[range]:
    """Series ids in blocks: temporaries stay cache-sized and memory bounded."""
    for at in range(0, series, size):
        yield range(at, min(at + size, series))


def _values_before(view: StoreView, sids: Ints, lo: Ints) -> Floats:
    if view.keys.size == 0:
        return np.full(sids.size, np.nan)
    prev = np.maximum(lo - 1, 0)
    own = (lo > 0) & (unpack_sid(view.keys[prev]) == sids)
    return np.where(own, view.values[prev], np.nan)


def increments(samples: Samples) -> Floats:
    """Each sample's counter increase over the previous sample of its series (0 for none);
    a drop is a counter reset, so the whole new value counts as increase (as `increase`)."""
    v, s = samples.values, samples.sids
    prev = np.empty_like(v)
    prev[1:] = v[:-1]
    first = np.ones(v.size, dtype=bool)
    first[1:] = s[1:] != s[:-1]
    prev[first] = samples.before[s[first] - samples.base]
    inc = np.where(v < prev, v, v - prev)
    return np.where(np.isnan(prev), 0.0, inc)


def bucketize(samples: Samples, *, resolution_s: int) -> Buckets:
    """Fold window samples into buckets of `resolution_s` aligned to the epoch."""
    res_ms = resolution_s * 1000
    starts_ms = samples.times // res_ms * res_ms
    s = samples.sids
    edge = np.ones(s.size, dtype=bool)
    edge[1:] = (s[1:] != s[:-1]) | (starts_ms[1:] != starts_ms[:-1])
    at = np.flatnonzero(edge)
    if at.size == 0:
        return empty(resolution_s)
    ends = np.append(at[1:], s.size)
    with np.errstate(invalid="ignore"):  # +Inf and -Inf in one bucket sum to NaN, as in Go
        return _fold(samples, resolution_s=resolution_s, at=at, ends=ends)


def _fold(samples: Samples, *, resolution_s: int, at: Ints, ends: Ints) -> Buckets:
    s, v = samples.sids, samples.values
    res_ms = resolution_s * 1000
    return Buckets(
        resolution_s=resolution_s,
        sids=s[at],
        starts_ms=samples.times[at] // res_ms * res_ms,
        count=(ends - at).astype(np.int64),
        sum=np.add.reduceat(v, at),
        min=np.minimum.reduceat(v, at),
        max=np.maximum.reduceat(v, at),
        first=v[at],
        last=v[ends - 1],
        increase=np.add.reduceat(increments(samples), at),
    )


def empty(resolution_s: int) -> Buckets:
    ints, floats = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return Buckets(resolution_s, ints, ints, ints, floats, floats, floats, floats, floats, floats)


def complete_until(now_ms: int, *, resolution_s: int, lag_ms: int) -> int:
    """The end of the newest bucket that is over, with `lag_ms` allowed for late scrapes."""
    res_ms = resolution_s * 1000
    return (now_ms - lag_ms) // res_ms * res_ms


# -- the job ---------------------------------------------------------------------------------
class RollupSink(Protocol):
    """Where finished buckets go (retention.RollupWriter writes them to SQL)."""

    def write(self, buckets: Iterable[Buckets], *, labels_of: Callable[[int], Labels]) -> int:
        """Store all blocks of buckets atomically; returns the rows written."""
        ...

    def watermark(self, resolution_s: int) -> int | None:
        """End (ms) of the newest bucket already stored, or None for none."""
        ...


@dataclass(frozen=True)
class RollupReport:
    resolution_s: int
    start_ms: int
    end_ms: int
    buckets: int


class Rollup:
    """Turns finished buckets of the hot store into rollups; run it every minute or so.

    Each run picks up where the sink's newest stored bucket ends, so buckets are written
    once even across restarts (a new, still-empty store never overwrites full history),
    and a repeated run over the same data is a no-op.
    """

    def __init__(
        self,
        store: SeriesStore,
        sink: RollupSink,
        *,
        clock: Clock,
        resolutions_s: Sequence[int] = RESOLUTIONS_S,
        lag_s: float = 30.0,
    ) -> None:
        self._store, self._sink, self._clock = store, sink, clock
        self._resolutions = tuple(resolutions_s)
        self._lag_ms = int(lag_s * 1000)
        self._marks: dict[int, int] = {}

    def run(self) -> list[RollupReport]:
        """Roll up every bucket finished since the last run, for every resolution."""
        now_ms = int(self._clock.now() * 1000)
        view = self._store.view()
        return [r for res in self._resolutions if (r := self._run_one(view, res, now_ms=now_ms))]

    def due_in(self) -> float:
        """Seconds until the next finest bucket is over (plus the lag): when to run again."""
        res_ms = min(self._resolutions) * 1000
        now_ms = int(self._clock.now() * 1000)
        next_end = complete_until(now_ms, resolution_s=res_ms // 1000, lag_ms=self._lag_ms)
        return (next_end + res_ms + self._lag_ms - now_ms) / 1000

    def _run_one(self, view: StoreView, res: int, *, now_ms: int) -> RollupReport | None:
        end = complete_until(now_ms, resolution_s=res, lag_ms=self._lag_ms)
        start = self._start(view, res)
        if start is None or end <= start:
            return None
        buckets = (
            bucketize(window_samples(view, sids=b, start_ms=start, end_ms=end), resolution_s=res)
            for b in blocks(len(self._store))
        )
        written = self._sink.write(buckets, labels_of=self._store.labels)
        self._marks[res] = end
        return RollupReport(res, start, end, written)

    def _start(self, view: StoreView, resolution_s: int) -> int | None:
        mark = self._marks.get(resolution_s)
        if mark is None:
            mark = self._sink.watermark(resolution_s)
        if mark is not None:
            return mark
        if view.keys.size == 0:
            return None
        res_ms = resolution_s * 1000
        return int(unpack_time(view.keys).min()) // res_ms * res_ms

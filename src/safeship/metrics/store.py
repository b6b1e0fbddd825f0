"""The embedded series store: scraped samples in, columnar windows out to the PromQL engine.

Samples live in two flat numpy columns sorted by (series id, time): `keys` packs the series
id and the timestamp into one int64 so that a single vectorised `searchsorted` finds the
window of every selected series at once, and `values` holds the float64 samples. New samples
wait in a small head and are merged in on the next read, so appends stay O(1).
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from safeship.core.labels import STALE_BITS, STALE_NAN, Labels, make_labels
from safeship.metrics.index import Ids, LabelIndex, Matcher

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_TIME_BITS = 43
_TIME_BIAS = 1 << 42  # timestamps from about 1830 to 2109 fit, negative test times included
MIN_T = -_TIME_BIAS
MAX_T = _TIME_BIAS - 1

__all__ = ["STALE_NAN", "InOrder", "SampleLog", "Series", "SeriesStore", "Snapshot", "StoreView"]


class SampleLog(Protocol):
    """Where the store logs every write before applying it (metrics/wal.py), under its lock,
    so the log's order is the store's order and a new series is logged before its samples."""

    def series(self, sid: int, labels: Labels) -> None: ...

    def samples(self, refs: Ints, times: Ints | int, values: Floats) -> None: ...

    def cut(self) -> int: ...


@dataclass(frozen=True)
class Snapshot:
    """Every series (index order: position = id) and the samples inside the retention, as
    the log held them up to segment `before` (exclusive): what a checkpoint writes."""

    before: int
    labels: list[Labels]
    keys: Ints
    values: Floats


@dataclass(frozen=True)
class InOrder:
    """What `append_in_order` found: samples it refused, and repeats it dropped."""

    out_of_order: int = 0  # older than the series' newest sample
    conflicting: int = 0  # at the newest sample's time with another value
    repeated: int = 0  # the same time and value again: dropped, not an error

    @property
    def refused(self) -> bool:
        return bool(self.out_of_order or self.conflicting)


def pack(sids: Ints | int, t_ms: Ints | int) -> Ints:
    """Sort keys: series id in the high bits, biased time in the low bits."""
    t = np.clip(np.asarray(t_ms, dtype=np.int64), MIN_T, MAX_T)
    return (np.asarray(sids, dtype=np.int64) << _TIME_BITS) + (t + _TIME_BIAS)


def unpack_time(keys: Ints) -> Ints:
    return (keys & ((1 << _TIME_BITS) - 1)) - _TIME_BIAS


def unpack_sid(keys: Ints) -> Ints:
    return keys >> _TIME_BITS


@dataclass(frozen=True)
class Series:
    """One series' samples in a time range (what `select` returns)."""

    labels: Labels
    timestamps: Ints
    values: Floats


@dataclass(frozen=True)
class StoreView:
    """An immutable snapshot of all samples, shaped for vectorised window lookups."""

    keys: Ints
    values: Floats
    stale_positions: Ints

    @functools.cached_property
    def oldest_ms(self) -> int | None:
        """The oldest sample's time, None when empty; one scan per snapshot, then cached."""
        return int(unpack_time(self.keys).min()) if self.keys.size else None

    def window_bounds(self, sids: Ids, start_ms: int, end_ms: int) -> tuple[Ints, Ints]:
        """Per series, the [lo, hi) positions of samples with start_ms <= t <= end_ms."""
        lo = np.searchsorted(self.keys, pack(sids, start_ms), side="left")
        hi = np.searchsorted(self.keys, pack(sids, end_ms), side="right")
        return lo.astype(np.int64), hi.astype(np.int64)

    def times(self, positions: Ints) -> Ints:
        return unpack_time(self.keys[positions])


P = ParamSpec("P")
R = TypeVar("R")


def _locked(
    method: Callable[Concatenate[SeriesStore, P], R],
) -> Callable[Concatenate[SeriesStore, P], R]:
    """Run `method` under the store's lock: the scrape loop writes on the event loop while
    API queries read from worker threads (server/prometheus_api.py)."""

    def run(self: SeriesStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)

    run.__doc__ = method.__doc__
    return run


class SeriesStore:
    """In-memory series with an optional retention window (in seconds).

    Thread-safe: writes, the lazy compaction behind `view()` and index lookups hold one lock;
    a `StoreView` is immutable, so evaluation over it needs none.
    """

    def __init__(self, *, retention: float | None = None) -> None:
        self._lock = threading.RLock()
        self._index = LabelIndex()
        self._retention_ms = None if retention is None else int(retention * 1000)
        self._keys: Ints = np.empty(0, dtype=np.int64)
        self._values: Floats = np.empty(0, dtype=np.float64)
        self._head_keys: list[Ints] = []
        self._head_values: list[Floats] = []
        self._scrapes: list[tuple[Ints, int]] = []  # (refs, t) of each whole-scrape batch
        self._one_keys: list[int] = []
        self._one_values: list[float] = []
        self._view: StoreView | None = None
        self._stale: Ints | None = None  # positions of stale markers in _values, when known
        # Merges write into buffers the store allocated: the one behind `_keys`/`_values`, and
        # the previous one, reused once nothing (no view, no slice) refers to it any more, so a
        # merge does not fault in hundreds of fresh megabytes each time.
        self._buffers: tuple[Ints, Floats] | None = None
        self._spare: tuple[Ints, Floats] | None = None
        self._max_t = MIN_T
        self._log: SampleLog | None = None

    @_locked
    def log_to(self, log: SampleLog | None) -> None:
        """Log every later write to `log` (after a replay, which must not log again)."""
        self._log = log

    @_locked
    def checkpoint(self) -> Snapshot | None:
        """Cut the log's segment and snapshot the store in one step under the lock, so every
        record before the cut is in the snapshot and every later one after it."""
        if self._log is None:
            return None
        before = self._log.cut()
        view = self.view()
        return Snapshot(before, self._index.all_labels(), view.keys, view.values)

    # -- writing ---------------------------------------------------------------------------
    @_locked
    def ref(self, labels: Mapping[str, str] | Labels) -> int:
        """A stable reference for a series, for the `append_refs` fast path."""
        canon = _canon(labels)
        known = len(self._index)
        sid = self._index.ref(canon)
        if sid == known and self._log is not None:
            self._log.series(sid, canon)
        return sid

    @_locked
    def append(self, labels: Mapping[str, str] | Labels, t_ms: int, value: float) -> None:
        sid = self.ref(labels)
        if self._log is not None:
            self._log.samples(np.asarray([sid], dtype=np.int64), int(t_ms), np.asarray([value]))
        self._one_keys.append(_pack_one(sid, int(t_ms)))
        self._one_values.append(float(value))
        self._max_t = max(self._max_t, int(t_ms))
        self._view = None

    def append_many(
        self, labels: Sequence[Mapping[str, str] | Labels], t_ms: int | Ints, values: Floats
    ) -> None:
        """One sample per label set, at one shared time or at aligned times."""
        refs = np.fromiter((self.ref(x) for x in labels), dtype=np.int64, count=len(labels))
        self.append_refs(refs, t_ms, values)

    @_locked
    def append_refs(self, refs: Ints, t_ms: int | Ints, values: Floats | Sequence[float]) -> None:
        """The fast path: series references from `ref`, times, values (aligned arrays)."""
        refs = np.asarray(refs, dtype=np.int64)
        times = np.broadcast_to(np.asarray(t_ms, dtype=np.int64), np.shape(refs))
        floats = np.asarray(values, dtype=np.float64).copy()
        if np.ndim(t_ms) == 0:
            self._scrapes.append((refs, int(np.asarray(t_ms))))
        if self._log is not None:
            shared = int(np.asarray(t_ms)) if np.ndim(t_ms) == 0 else np.asarray(times)
            self._log.samples(refs, shared, floats)
        self._head_keys.append(pack(refs, times))
        self._head_values.append(floats)
        if times.size:
            self._max_t = max(self._max_t, int(times.max()))
        self._view = None

    @_locked
    def append_in_order(self, refs: Ints, times: Ints, values: Floats) -> InOrder:
        """Append samples pushed from outside (remote write) as Prometheus' head would: per
        series, a sample older than the newest one is out of order, one at the same time with
        another value a conflict; then nothing is appended. A repeat (same time and value)
        is dropped. Checked and appended under one lock hold: no scrape slips in between."""
        order = np.argsort(refs, kind="stable")  # a series' samples together, in sent order
        refs, times, values = refs[order], times[order], values[order]
        prev_t, prev_v = self._newest(refs)
        same = np.zeros(refs.size, dtype=bool)
        same[1:] = refs[1:] == refs[:-1]
        prev_t[1:] = np.where(same[1:], times[:-1], prev_t[1:])
        prev_v[1:] = np.where(same[1:], values[:-1], prev_v[1:])
        repeat = times == prev_t
        equal = values.view(np.uint64) == prev_v.view(np.uint64)
        found = InOrder(
            out_of_order=int(np.count_nonzero(times < prev_t)),
            conflicting=int(np.count_nonzero(repeat & ~equal)),
            repeated=int(np.count_nonzero(repeat & equal)),
        )
        if not found.refused and not repeat.all():
            keep = ~repeat
            self.append_refs(refs[keep], times[keep], values[keep])
        return found

    def _newest(self, refs: Ints) -> tuple[Ints, Floats]:
        """Per ref, the time and value of its newest sample (MIN_T - 1 and NaN for none)."""
        view = self.view()
        t = np.full(refs.size, MIN_T - 1, dtype=np.int64)
        v = np.full(refs.size, np.nan)
        if view.keys.size:
            last = np.searchsorted(view.keys, pack(refs, MAX_T), side="right") - 1
            has = (last >= 0) & (unpack_sid(view.keys[np.maximum(last, 0)]) == refs)
            t[has] = unpack_time(view.keys[last[has]])
            v[has] = view.values[last[has]]
        return t, v

    def mark_stale(self, labels: Mapping[str, str] | Labels, t_ms: int) -> None:
        """Record that a series vanished at t_ms; queries after it no longer see the series."""
        self.append(labels, t_ms, STALE_NAN)

    # -- reading ---------------------------------------------------------------------------
    @_locked
    def view(self) -> StoreView:
        if self._view is None:
            self._compact()
            if self._stale is None:
                self._stale = _stale_positions(self._values)
            self._view = StoreView(self._keys, self._values, self._stale)
        return self._view

    @_locked
    def match(self, matchers: Iterable[Matcher]) -> Ids:
        """Ids of the matching series in label order."""
        return self._index.select(tuple(matchers))

    @_locked
    def match_labels(self, matchers: Iterable[Matcher]) -> list[Labels]:
        """Label sets of `match(matchers)`, in the same order (a shared, read-only list)."""
        return self._index.select_labels(tuple(matchers))

    @_locked
    def labels(self, sid: int) -> Labels:
        return self._index.labels(sid)

    def select(self, matchers: Iterable[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Matching series with their samples in [start_ms, end_ms]; empty series left out."""
        view = self.view()
        sids = self.match(matchers)
        lo, hi = view.window_bounds(sids, start_ms, end_ms)
        found = []
        for sid, a, b in zip(sids.tolist(), lo.tolist(), hi.tolist(), strict=True):
            if b > a:
                ts = view.times(np.arange(a, b, dtype=np.int64))
                found.append(Series(self.labels(sid), ts, view.values[a:b].copy()))
        return found

    def series(self, matchers: Iterable[Matcher], start_ms: int, end_ms: int) -> list[Labels]:
        return [s.labels for s in self.select(matchers, start_ms, end_ms)]

    @_locked
    def label_names(self) -> list[str]:
        return self._index.label_names()

    @_locked
    def label_values(self, name: str) -> list[str]:
        return self._index.label_values(name)

    @_locked
    def __len__(self) -> int:
        return len(self._index)

    # -- merging ---------------------------------------------------------------------------
    def _compact(self) -> None:
        if self._one_keys:
            self._head_keys.append(np.asarray(self._one_keys, dtype=np.int64))
            self._head_values.append(np.asarray(self._one_values, dtype=np.float64))
            self._one_keys, self._one_values = [], []
        if self._head_keys:
            stacked = self._stacked_scrapes()
            if stacked is None:
                stacked = np.concatenate(self._head_keys), np.concatenate(self._head_values)
            self._merge(*stacked)
            self._head_keys, self._head_values, self._scrapes = [], [], []
        if self._retention_ms is not None:
            self._expire(self._max_t - self._retention_ms)

    def _stacked_scrapes(self) -> tuple[Ints, Floats] | None:
        """Whole scrapes of one target set at rising times are already a (series, time)
        grid: transposing it sorts them in O(n) instead of a sort over every sample."""
        if len(self._scrapes) != len(self._head_keys) or not self._scrapes:
            return None
        refs = self._scrapes[0][0]
        times = np.asarray([t for _, t in self._scrapes], dtype=np.int64)
        same = all(r is refs or np.array_equal(r, refs) for r, _ in self._scrapes)
        if not same or np.any(np.diff(times) <= 0):
            return None
        order = np.argsort(refs, kind="stable")
        if np.any(np.diff(refs[order]) == 0):
            return None
        grid = np.stack(self._head_values, axis=1)[order]
        keys = pack(refs[order][:, None], times[None, :])
        return keys.ravel(), grid.ravel()

    def _merge(self, keys: Ints, values: Floats) -> None:
        if keys.size > 1 and np.any(keys[1:] < keys[:-1]):
            order = np.argsort(keys, kind="stable")
            keys, values = keys[order], values[order]
        if self._keys.size == 0:
            self._keys, self._values, self._stale = keys, values, None
            self._drop_repeats()
            return
        if keys.size == 0:
            return
        # Only the part from the first insertion point (and the sample before it, which a new
        # one may repeat) changes: copy the rest as it is and merge the tail, so a write of a
        # few series (rule outputs, new series at the end) costs one copy, not a sort.
        at = np.searchsorted(self._keys, keys, side="right")
        lo = max(int(at[0]) - 1, 0)
        tail_keys = np.insert(self._keys[lo:], at - lo, keys)
        tail_values = np.insert(self._values[lo:], at - lo, values)
        repeated = tail_keys[:-1] == tail_keys[1:]
        if repeated.any():
            keep = np.ones(tail_keys.size, dtype=bool)
            keep[:-1] = ~repeated
            tail_keys, tail_values = tail_keys[keep], tail_values[keep]
        merged_keys, merged_values = self._take(lo + tail_keys.size)
        merged_keys[:lo], merged_keys[lo:] = self._keys[:lo], tail_keys
        merged_values[:lo], merged_values[lo:] = self._values[:lo], tail_values
        if self._stale is not None:
            head = self._stale[: np.searchsorted(self._stale, lo)]
            self._stale = np.concatenate([head, lo + _stale_positions(tail_values)])
        self._keys, self._values = merged_keys, merged_values

    def _take(self, size: int) -> tuple[Ints, Floats]:
        """Arrays of `size` for a merge's result: the spare buffers when large enough and
        referenced by nothing else (views of older snapshots keep them alive and unused)."""
        spare, self._spare = self._spare, None
        if self._buffers is not None:
            self._spare = self._buffers
        if spare is not None and spare[0].size >= size and _unshared(spare):
            self._buffers = spare
        else:
            capacity = size + size // 32 + 1024
            self._buffers = (
                np.empty(capacity, dtype=np.int64),
                np.empty(capacity, dtype=np.float64),
            )
        return self._buffers[0][:size], self._buffers[1][:size]

    def _drop_repeats(self) -> None:
        # A repeated (series, time) keeps the newest value, like a re-scrape overwriting.
        repeated = self._keys[:-1] == self._keys[1:]
        if repeated.any():
            keep = np.ones(self._keys.size, dtype=bool)
            keep[:-1] = ~repeated
            self._keys, self._values = self._keys[keep], self._values[keep]

    def _expire(self, oldest_ms: int) -> None:
        keep = unpack_time(self._keys) >= oldest_ms
        if not keep.all():
            self._keys, self._values = self._keys[keep], self._values[keep]
            self._stale = None


def _pack_one(sid: int, t_ms: int) -> int:
    """`pack` of one sample, in plain integers (no array round trip)."""
    return (sid << _TIME_BITS) + (min(max(t_ms, MIN_T), MAX_T) + _TIME_BIAS)


def _unshared(pair: tuple[Ints, Floats]) -> bool:
    """Nothing but `pair` refers to its arrays: no view or slice of them is alive (CPython
    counts: the tuple's reference and getrefcount's own argument)."""
    return sys.getrefcount(pair[0]) <= 2 and sys.getrefcount(pair[1]) <= 2


def _stale_positions(values: Floats) -> Ints:
    bits = values.view(np.uint64)
    return np.flatnonzero(bits == np.uint64(STALE_BITS)).astype(np.int64)


def _canon(labels: Mapping[str, str] | Labels) -> Labels:
    if isinstance(labels, tuple):
        return labels
    return make_labels(labels)

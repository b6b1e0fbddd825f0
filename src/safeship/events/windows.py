"""Windowed aggregation of events, pure: tumbling 1m windows, late events, de-duplication,
roll-ups into 5m and 1h, and the series each window becomes.

Where it sits: "event sources ─▶ windows ─▶ metric store" (DESIGN §2). The pipeline
(events/pipeline.py) hands each `Batch` to `Aggregator.add` with the time it was received;
a window [start, start+60) accepts events until `start + 60 + grace`, later ones are counted
as dropped; an event id seen before within that horizon is a duplicate (sources deliver at
least once). `merge` rolls windows up (sketches merge, so p99 of a 5m window is exact to the
sketch's accuracy, not an average of p99s); `samples` names the series a window writes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from safeship.core.labels import Labels
from safeship.events.schema import Batch
from safeship.events.sketch import Floats, LatencySketch

Ints = npt.NDArray[np.int64]

MINUTE = 60
RESOLUTIONS = (60, 300, 3600)
QUANTILES = (0.5, 0.95, 0.99)


@dataclass
class Window:
    """One series' events in [start, start + resolution_s)."""

    series: Labels
    resolution_s: int
    start: int
    latency: LatencySketch
    count: int = 0
    errors: int = 0
    sums: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    maxes: list[float] = field(default_factory=list)

    @classmethod
    def empty(
        cls, series: Labels, resolution_s: int, start: int, *, values: int, accuracy: float
    ) -> Window:
        return cls(
            series,
            resolution_s,
            start,
            LatencySketch(accuracy),
            sums=[0.0] * values,
            counts=[0] * values,
            maxes=[-math.inf] * values,
        )

    @property
    def error_ratio(self) -> float:
        return self.errors / self.count if self.count else math.nan

    def quantiles(self) -> dict[float, float]:
        return {q: self.latency.quantile(q) for q in QUANTILES}

    def mean(self, i: int) -> float:
        return self.sums[i] / self.counts[i] if self.counts[i] else math.nan

    def top(self, i: int) -> float:
        return self.maxes[i] if self.counts[i] else math.nan

    def merge(self, other: Window) -> None:
        self.count += other.count
        self.errors += other.errors
        self.latency.merge(other.latency)
        for i in range(len(self.sums)):
            self.sums[i] += other.sums[i]
            self.counts[i] += other.counts[i]
            self.maxes[i] = max(self.maxes[i], other.maxes[i])

    def encode(self) -> dict[str, Any]:
        """The state a restart needs (JSON-ready); infinities as None."""
        return {
            "latency": self.latency.encode(),
            "sums": self.sums,
            "counts": self.counts,
            "maxes": [m if math.isfinite(m) else None for m in self.maxes],
        }

    @classmethod
    def decode(
        cls,
        series: Labels,
        resolution_s: int,
        start: int,
        *,
        count: int,
        errors: int,
        state: dict[str, Any],
    ) -> Window:
        maxes = [-math.inf if m is None else float(m) for m in state["maxes"]]
        return cls(
            series,
            resolution_s,
            start,
            LatencySketch.decode(state["latency"]),
            count=count,
            errors=errors,
            sums=[float(x) for x in state["sums"]],
            counts=[int(x) for x in state["counts"]],
            maxes=maxes,
        )


@dataclass(frozen=True)
class _Columns:
    """A batch's numbers as arrays, built once, so each window takes its events by index."""

    errors: npt.NDArray[np.bool_]
    latencies: Floats
    values: Floats  # events x value fields

    @classmethod
    def of(cls, batch: Batch, *, values: int) -> _Columns:
        table = np.asarray(batch.values, dtype=np.float64).reshape(len(batch), values)
        return cls(np.asarray(batch.errors, dtype=bool), np.asarray(batch.latencies), table)

    def fill(self, window: Window, positions: npt.NDArray[np.int64]) -> None:
        window.count += int(positions.size)
        window.errors += int(np.count_nonzero(self.errors[positions]))
        window.latency.add_many(self.latencies[positions])
        for j in range(self.values.shape[1]):
            column = self.values[positions, j]
            column = column[~np.isnan(column)]
            if column.size:
                window.sums[j] += float(column.sum())
                window.counts[j] += int(column.size)
                window.maxes[j] = max(window.maxes[j], float(column.max()))


def merge(windows: Iterable[Window], *, resolution_s: int) -> list[Window]:
    """Roll windows up into `resolution_s` buckets, one per (series, bucket start)."""
    out: dict[tuple[Labels, int], Window] = {}
    for w in windows:
        start = w.start - w.start % resolution_s
        key = (w.series, start)
        if key not in out:
            out[key] = Window.empty(
                w.series, resolution_s, start, values=len(w.sums), accuracy=w.latency.accuracy
            )
        out[key].merge(w)
    return list(out.values())


@dataclass
class Added:
    """What `Aggregator.add` did with a batch."""

    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    over_limit: int = 0
    touched: list[Window] = field(default_factory=list)  # changed windows, to persist
    ids: dict[int, list[str]] = field(default_factory=dict)  # new ids by window start


class Aggregator:
    """The open 1m windows of one stream, and the event ids seen within the grace horizon."""

    def __init__(
        self, *, values: int, grace_s: float, accuracy: float, max_series: int = 10_000
    ) -> None:
        self.values, self.grace_s, self.accuracy = values, grace_s, accuracy
        self.max_series = max_series
        self.windows: dict[tuple[Labels, int], Window] = {}
        self.seen: dict[int, set[str]] = {}  # window start → ids
        self.series: set[Labels] = set()

    def is_open(self, start: int, now: float) -> bool:
        return start + MINUTE + self.grace_s > now

    def add(self, batch: Batch, *, now: float) -> Added:
        result = Added()
        groups = self._group(batch, now, result)
        columns = _Columns.of(batch, values=self.values) if groups else None
        for (series, start), positions in groups.items():
            window = self.windows.get((series, start))
            if window is None:
                window = Window.empty(
                    series, MINUTE, start, values=self.values, accuracy=self.accuracy
                )
                self.windows[(series, start)] = window
            assert columns is not None
            columns.fill(window, np.asarray(positions, dtype=np.int64))
            result.touched.append(window)
        return result

    def _group(self, batch: Batch, now: float, result: Added) -> dict[tuple[Labels, int], Ints]:
        """Positions of the events to count, by (series, window start), in the order each
        group first appears. Vectorised for the usual batch (no new series past the limit,
        no repeated id); any other takes `_group_each`, event by event, with the same result."""
        if not batch.times:
            return {}
        oldest_open = now - MINUTE - self.grace_s  # a window starting at or before is closed
        starts = np.floor_divide(np.asarray(batch.times, dtype=np.float64), MINUTE)
        starts = starts.astype(np.int64) * MINUTE
        kept = np.flatnonzero(starts > oldest_open)
        if kept.size == 0:
            result.late += len(batch)
            return {}
        positions = kept.tolist()
        series_list = batch.series
        series = series_list if kept.size == len(batch) else [series_list[i] for i in positions]
        new_series = set(series) - self.series
        if len(self.series) + len(new_series) > self.max_series:
            return self._group_each(batch, now, result)
        window_starts, by_start = np.unique(starts[kept], return_inverse=True)
        ids: dict[int, list[str]] = {}
        if batch.ids.count(None) != len(batch.ids):
            if None in batch.ids:
                return self._group_each(batch, now, result)
            every_id = batch.ids
            for k, start in enumerate(window_starts.tolist()):
                found = [every_id[i] for i in kept[by_start == k].tolist()]
                seen = self.seen.get(start)
                if len(set(found)) != len(found) or (seen and not seen.isdisjoint(found)):
                    return self._group_each(batch, now, result)
                ids[start] = found
        # Nothing refused: take the batch in.
        result.late += len(batch) - kept.size
        self.series.update(new_series)
        for start, found in ids.items():
            self.seen.setdefault(start, set()).update(found)
            result.ids[start] = found
        code_of: dict[Labels, int] = {}
        codes = np.fromiter(
            (code_of.setdefault(x, len(code_of)) for x in series), np.int64, count=kept.size
        )
        keys = codes * window_starts.size + by_start
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        split = np.split(kept[order], np.cumsum(np.bincount(inverse))[:-1])
        groups: dict[tuple[Labels, int], Ints] = {}
        for g in np.argsort(first, kind="stable").tolist():
            at = int(first[g])
            groups[(series[at], int(window_starts[by_start[at]]))] = split[g]
        result.accepted = kept.size
        return groups

    def _group_each(
        self, batch: Batch, now: float, result: Added
    ) -> dict[tuple[Labels, int], Ints]:
        """`_group` event by event: new series up to the limit, ids repeated in the batch."""
        groups: dict[tuple[Labels, int], list[int]] = {}
        oldest_open = now - MINUTE - self.grace_s  # a window starting at or before is closed
        known, seen_by_start, new_ids = self.series, self.seen, result.ids
        accepted = 0
        for i, (event_id, series, t) in enumerate(
            zip(batch.ids, batch.series, batch.times, strict=True)
        ):
            start = int(t // MINUTE) * MINUTE
            if start <= oldest_open:
                result.late += 1
                continue
            if series not in known:
                if len(known) >= self.max_series:
                    result.over_limit += 1
                    continue
                known.add(series)
            if event_id is not None:
                seen = seen_by_start.get(start)
                if seen is None:
                    seen = seen_by_start[start] = set()
                if event_id in seen:
                    result.duplicates += 1
                    continue
                seen.add(event_id)
                ids = new_ids.get(start)
                if ids is None:
                    ids = new_ids[start] = []
                ids.append(event_id)
            group = groups.get((series, start))
            if group is None:
                group = groups[(series, start)] = []
            group.append(i)
            accepted += 1
        result.accepted = accepted
        return {key: np.asarray(found, dtype=np.int64) for key, found in groups.items()}

    def expire(self, now: float) -> list[Window]:
        """Forget windows (and their ids) past the grace horizon; returns the closed windows."""
        closed = [w for key, w in self.windows.items() if not self.is_open(key[1], now)]
        for w in closed:
            del self.windows[(w.series, w.start)]
        for start in [s for s in self.seen if not self.is_open(s, now)]:
            del self.seen[start]
        self.series = {series for series, _ in self.windows}
        return closed

    def restore(self, windows: Iterable[Window], ids: Iterable[tuple[int, Iterable[str]]]) -> None:
        """Take back the open windows and seen ids a previous process stored."""
        for w in windows:
            self.windows[(w.series, w.start)] = w
            self.series.add(w.series)
        for start, found in ids:
            self.seen.setdefault(start, set()).update(found)


Sample = tuple[str, str | None, float]  # metric name, quantile label (or None), value


def samples(window: Window, value_names: Sequence[str]) -> list[Sample]:
    """The series a window writes into the metric store (labelled with `window.series`,
    plus `quantile` where given), at its start time.

    Each is the window's own figure (not a running counter): sum_over_time over a range
    adds windows up, as `safeship_events_errors_total / safeship_events_total` of sums does.
    """
    out: list[Sample] = [
        ("safeship_events_total", None, float(window.count)),
        ("safeship_events_errors_total", None, float(window.errors)),
    ]
    if window.latency.count:
        for q, value in window.quantiles().items():
            out.append(("safeship_event_latency_seconds", f"{q:g}", value))
    for i, name in enumerate(value_names):
        if window.counts[i]:
            out.append((f"safeship_event_{name}_mean", None, window.mean(i)))
            out.append((f"safeship_event_{name}_max", None, window.top(i)))
    return out


def series_labels(series: Labels, name: str, quantile: str | None) -> Labels:
    """The full label set of one sample of `samples`, metric name included."""
    extra = (
        (("__name__", name),) if quantile is None else (("__name__", name), ("quantile", quantile))
    )
    return tuple(sorted((*series, *extra)))

"""Latency sketches: DDSketch (DataDog's sketches-py) filled in bulk, merged, and encoded.

Where it sits: each event window (events/windows.py) keeps one, so p50/p95/p99 of any
1m window and of any roll-up (5m, 1h: merged sketches) stay within the configured relative
accuracy. DDSketch adds one value at a time in Python; a batch of events is binned here with
numpy instead (the same logarithmic mapping: key = ceil(log2(v) * multiplier) + offset), so
the ingest path does one store update per distinct bin, not per event. Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from ddsketch import LogarithmicMapping
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.store import DenseStore

Floats = npt.NDArray[np.float64]


class LatencySketch:
    """Non-negative values (seconds) with quantiles at a relative accuracy."""

    def __init__(self, relative_accuracy: float) -> None:
        self.accuracy = relative_accuracy
        # DDSketch's default store grows 128 bins (1 KB) at a time; windows are many and
        # mostly narrow, so they grow 16 at a time.
        self._sketch = BaseDDSketch(
            mapping=LogarithmicMapping(relative_accuracy),
            store=DenseStore(chunk_size=16),
            negative_store=DenseStore(chunk_size=16),
            zero_count=0.0,
        )

    @property
    def count(self) -> int:
        return int(self._sketch.count)

    @property
    def max(self) -> float:
        return float(self._sketch._max) if self.count else math.nan

    @property
    def sum(self) -> float:
        return float(self._sketch.sum)

    def add_many(self, values: Floats) -> None:
        """Add every value (NaN ones skipped); one store update per distinct bin."""
        values = values[~np.isnan(values)]
        if values.size == 0:
            return
        sketch = self._sketch
        mapping = sketch._mapping
        positive = values[values > mapping.min_possible]
        keys = np.ceil(np.log2(positive) * mapping._multiplier).astype(np.int64)
        bins, counts = np.unique(keys + int(mapping._offset), return_counts=True)
        if bins.size:
            # DenseStore.add per bin, its range grown once for the lowest and highest bin
            store = sketch._store
            lo, hi = int(bins[0]), int(bins[-1])
            if lo < store.min_key or hi > store.max_key:
                store._extend_range(lo, hi)
            weights, offset = store.bins, store.offset
            for key, count in zip(bins.tolist(), counts.tolist(), strict=True):
                weights[key - offset] += float(count)
            store.count += float(positive.size)
        sketch._zero_count += float(values.size - positive.size)
        sketch._count += float(values.size)
        sketch._sum += float(values.sum())
        sketch._min = min(sketch._min, float(values.min()))
        sketch._max = max(sketch._max, float(values.max()))

    def merge(self, other: LatencySketch) -> None:
        self._sketch.merge(other._sketch)

    def quantile(self, q: float) -> float:
        value = self._sketch.get_quantile_value(q)
        return math.nan if value is None else float(value)

    def encode(self) -> dict[str, Any]:
        """A JSON-ready form: the used bins, zero count, count, sum, min and max."""
        store = self._sketch._store
        lo, hi = store.min_key, store.max_key
        bins = store.bins[lo - store.offset : hi - store.offset + 1] if self.count else []
        s = self._sketch
        return {
            "a": self.accuracy,
            "k": lo if bins else 0,
            "b": bins,
            "z": s._zero_count,
            "n": s._count,
            "s": s._sum,
            "lo": s._min if self.count else None,
            "hi": s._max if self.count else None,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> LatencySketch:
        sketch = cls(float(data["a"]))
        inner = sketch._sketch
        for offset, weight in enumerate(data["b"]):
            if weight:
                inner._store.add(int(data["k"]) + offset, float(weight))
        inner._zero_count = float(data["z"])
        inner._count = float(data["n"])
        inner._sum = float(data["s"])
        if data["lo"] is not None:
            inner._min, inner._max = float(data["lo"]), float(data["hi"])
        return sketch

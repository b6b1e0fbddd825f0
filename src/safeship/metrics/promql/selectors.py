"""Selector evaluation: from the store's columns to instant vectors and padded windows.

Instant selectors take each series' newest sample within the lookback delta unless it is a
staleness marker; range selectors take every non-stale sample in [t - range, t], both
ends included (Prometheus 2.x semantics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safeship.core.labels import STALE_BITS, Labels
from safeship.metrics.index import Ids
from safeship.metrics.promql.values import Floats, Ints, Vector, Windows
from safeship.metrics.store import SeriesStore, StoreView, pack, unpack_time

_SID_SHIFT = 43


@dataclass(frozen=True)
class Selection:
    """Matching series of one selector, with their labels (cached per store snapshot)."""

    sids: Ids
    labels: list[Labels]


def select_ids(store: SeriesStore, matchers: tuple[object, ...]) -> Selection:
    return Selection(store.match(matchers), store.match_labels(matchers))  # type: ignore[arg-type]


def _subset(labels: list[Labels], idx: Ints) -> list[Labels]:
    # Reusing the selection's own list when nothing was dropped keeps memoisation keyed
    # on that list working across evaluation rounds.
    if idx.size == len(labels):
        return labels
    return [labels[i] for i in idx.tolist()]


def instant(view: StoreView, sel: Selection, *, t_ms: int, lookback_ms: int) -> tuple[Vector, Ints]:
    """The vector at t_ms and each sample's own timestamp (for `timestamp()`)."""
    if sel.sids.size == 0:
        return Vector.empty(), np.empty(0, dtype=np.int64)
    pos = np.searchsorted(view.keys, pack(sel.sids, t_ms), side="right") - 1
    safe = np.maximum(pos, 0)
    keys = view.keys[safe]
    times = unpack_time(keys)
    values = view.values[safe]
    ok = (pos >= 0) & ((keys >> _SID_SHIFT) == sel.sids) & (times >= t_ms - lookback_ms)
    ok &= values.view(np.uint64) != np.uint64(STALE_BITS)
    idx = np.flatnonzero(ok)
    return Vector(_subset(sel.labels, idx), values[idx]), times[idx]


def windows(view: StoreView, sel: Selection, *, end_ms: int, range_ms: int) -> Windows:
    """Every series' non-stale samples in [end_ms - range_ms, end_ms], padded into rows."""
    lo, hi = view.window_bounds(sel.sids, end_ms - range_ms, end_ms)
    width = int((hi - lo).max()) if lo.size else 0
    cols = np.arange(width, dtype=np.int64)
    present = cols[None, :] < (hi - lo)[:, None]
    pos = np.where(present, lo[:, None] + cols[None, :], 0)
    values = np.where(present, view.values[pos] if view.values.size else 0.0, np.nan)
    times = np.where(present, view.times(pos) if view.keys.size else 0, 0)
    if view.stale_positions.size:
        present &= values.view(np.uint64) != np.uint64(STALE_BITS)
        times, values = _left_pack(present, times, values)
    counts = present.sum(axis=1).astype(np.int64)
    keep = np.flatnonzero(counts > 0)
    return Windows(
        _subset(sel.labels, keep),
        times[keep],
        values[keep],
        counts[keep],
        range_ms,
        end_ms,
    )


def _left_pack(present: np.ndarray, times: Ints, values: Floats) -> tuple[Ints, Floats]:
    """Move each row's present cells to the front, order kept (staleness markers removed)."""
    order = np.argsort(~present, axis=1, kind="stable")
    packed_present = np.take_along_axis(present, order, axis=1)
    packed_t = np.where(packed_present, np.take_along_axis(times, order, axis=1), 0)
    packed_v = np.where(packed_present, np.take_along_axis(values, order, axis=1), np.nan)
    present[:] = packed_present
    return packed_t, packed_v


def windows_from_points(
    points: dict[Labels, list[tuple[int, float]]], *, end_ms: int, range_ms: int
) -> Windows:
    """Windows built from evaluated subquery steps."""
    labels = [k for k, pts in points.items() if pts]
    width = max((len(points[k]) for k in labels), default=0)
    times = np.zeros((len(labels), width), dtype=np.int64)
    values = np.full((len(labels), width), np.nan)
    for row, key in enumerate(labels):
        pts = points[key]
        times[row, : len(pts)] = [p[0] for p in pts]
        values[row, : len(pts)] = [p[1] for p in pts]
    counts = np.asarray([len(points[k]) for k in labels], dtype=np.int64)
    return Windows(labels, times, values, counts, range_ms, end_ms)

"""PromQL value types as the engine passes them around and the API serialises them.

Vectors are columnar: a list of label sets and one float64 array, so that functions and
arithmetic run as numpy operations over all series at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from safeship.core.labels import Labels
from safeship.metrics.promql.errors import PromQLError

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Scalar:
    value: float


@dataclass(frozen=True)
class String:
    value: str


@dataclass(frozen=True)
class Vector:
    """An instant vector: one value per label set (all at the evaluation time)."""

    labels: list[Labels]
    values: Floats

    @staticmethod
    def empty() -> Vector:
        return Vector([], np.empty(0, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, keep: npt.NDArray[np.bool_] | Ints) -> Vector:
        """The samples selected by a mask or index array, order kept."""
        if keep.dtype == np.bool_ and keep.all():
            # The same label list object keeps list-keyed memos (grouping) hitting.
            return Vector(self.labels, self.values[keep])
        idx = np.flatnonzero(keep) if keep.dtype == np.bool_ else keep
        return Vector([self.labels[i] for i in idx.tolist()], self.values[idx])

    def samples(self) -> list[tuple[Labels, float]]:
        return list(zip(self.labels, self.values.tolist(), strict=True))


@dataclass(frozen=True)
class MatrixSeries:
    labels: Labels
    timestamps: Ints
    values: Floats


@dataclass(frozen=True)
class Matrix:
    """A range vector or a range query result: series of (time ms, value) points."""

    series: list[MatrixSeries] = field(default_factory=list)


Value = Scalar | String | Vector | Matrix


@dataclass(frozen=True)
class Windows:
    """A range vector ready for range functions: one padded row of points per series.

    Row i holds counts[i] points in time order, NaN-padded to the widest window, so a
    function can walk column by column and add in the same order Prometheus does.
    """

    labels: list[Labels]
    times: Ints
    values: Floats
    counts: Ints
    range_ms: int
    end_ms: int

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, keep: npt.NDArray[np.bool_]) -> Windows:
        idx = np.flatnonzero(keep)
        return Windows(
            [self.labels[i] for i in idx.tolist()],
            self.times[idx],
            self.values[idx],
            self.counts[idx],
            self.range_ms,
            self.end_ms,
        )


_UNIQUE: dict[int, list[Labels]] = {}


def unique(vec: Vector) -> Vector:
    """`vec`, or Prometheus's error when two samples share a label set (after a function or
    an operator dropped the metric name). Label lists are never mutated, so a list once
    found unique is remembered by identity: memoised lists (selections, dropped names)
    are checked once, not once per evaluation."""
    labels = vec.labels
    if len(labels) < 2 or _UNIQUE.get(id(labels)) is labels:
        return vec
    if len(set(labels)) != len(labels):
        raise PromQLError("vector cannot contain metrics with the same labelset")
    if len(_UNIQUE) >= 10_000:
        _UNIQUE.clear()
    _UNIQUE[id(labels)] = labels
    return vec

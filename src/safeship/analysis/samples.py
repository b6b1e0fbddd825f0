"""Shared shapes of judge input: cleaned sample arrays, event counts and latency histograms.

Observations arrive here from the metric store or the router's counters (via the planner);
every judge module turns them into numbers with these helpers before deciding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Counts:
    """How many trials (requests) there were and how many of them were events (errors)."""

    trials: int
    events: int

    def __post_init__(self) -> None:
        if self.trials < 0 or self.events < 0 or self.events > self.trials:
            raise ValueError(f"counts need 0 <= events <= trials, got {self.events}/{self.trials}")

    @property
    def ratio(self) -> float | None:
        """Events per trial, or None when there were no trials."""
        return self.events / self.trials if self.trials else None


@dataclass(frozen=True)
class Histogram:
    """A cumulative latency histogram as Prometheus keeps it: counts of samples <= each bound.

    `count` is the total (the implicit +Inf bucket), so `count - cumulative[i]` samples were
    slower than `bounds[i]`.
    """

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int

    def __post_init__(self) -> None:
        if len(self.bounds) != len(self.cumulative):
            raise ValueError("a histogram needs one cumulative count per bound")
        if any(b >= a for a, b in zip(self.bounds[1:], self.bounds, strict=False)):
            raise ValueError("histogram bounds must increase")
        if any(
            b < a for a, b in zip(self.cumulative, (*self.cumulative[1:], self.count), strict=True)
        ):
            raise ValueError("cumulative histogram counts must not decrease")

    def slower_than(self, index: int) -> int:
        """How many samples exceeded `bounds[index]`."""
        return self.count - self.cumulative[index]


def clean(values: Sequence[float] | FloatArray) -> FloatArray:
    """The values as a float array without NaNs: a NaN is a missing measurement, not a number."""
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[~np.isnan(array)]


def finite_or_none(value: float) -> float | None:
    """Evidence must serialise to plain JSON, so infinities and NaN become None."""
    return float(value) if math.isfinite(value) else None

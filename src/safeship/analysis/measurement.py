"""A measured value over a window, as handed to the judges by the metrics edge."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """One metric of one version over `window_s` seconds; `value` is None when there was no data."""

    value: float | None
    samples: int
    window_s: float
    error: str | None = None  # the source could not answer (down, query error)

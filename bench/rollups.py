"""Rollup bench: one hour of 15 s samples for 100,000 series rolled up into 1m / 5m / 1h
buckets and written to SQLite, then read back from history.

    .venv/bin/python bench/rollups.py [--series 100000] [--minutes 60] [--db PATH | --url URL]

Prints throughput in series·buckets per second (the pure bucket computation alone, and the
Rollup job end to end: compute + SQLite upserts in one transaction) and writes
bench/results/rollups.json. The database is a fresh SQLite file in a temporary folder unless
--db or --url (which must point at an empty database) say otherwise.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from safeship.metrics.index import equal
from safeship.metrics.retention import HistoryReader, RollupWriter, open_history
from safeship.metrics.rollups import RESOLUTIONS_S, Rollup, blocks, bucketize, window_samples
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock

STEP_MS = 15_000
T0_MS = 1_699_999_200_000  # an hour boundary


def build(series: int, minutes: int) -> SeriesStore:
    store = SeriesStore(retention=2 * 3600)
    refs = np.asarray(
        [
            store.ref({"__name__": f"m{i % 100}_total", "instance": f"i{i // 100}", "job": "bench"})
            for i in range(series)
        ],
        dtype=np.int64,
    )
    scrape(store, refs, steps=range(minutes * 60_000 // STEP_MS))
    store.view()
    return store


def scrape(store: SeriesStore, refs: np.ndarray, *, steps: range) -> None:
    slope = np.random.default_rng(7).uniform(0.5, 20.0, refs.size)
    for step in steps:
        store.append_refs(refs, T0_MS + step * STEP_MS, slope * step)


def compute_only(store: SeriesStore, minutes: int) -> tuple[int, float]:
    """The pure part alone: samples → buckets for every resolution, nothing written."""
    started, rows = time.perf_counter(), 0
    for res in RESOLUTIONS_S:
        for block in blocks(len(store)):
            window = window_samples(
                store.view(), sids=block, start_ms=T0_MS, end_ms=T0_MS + minutes * 60_000
            )
            rows += len(bucketize(window, resolution_s=res))
    return rows, time.perf_counter() - started


def run(store: SeriesStore, url: str, minutes: int) -> dict[str, float]:
    """The Rollup job catching up on `minutes` of raw samples into an empty database."""
    rows, compute_s = compute_only(store, minutes)
    engine = open_history(url)
    clock = FakeClock(T0_MS / 1000 + minutes * 60 + 60)
    job = Rollup(store, RollupWriter(engine), clock=clock)
    started = time.perf_counter()
    written = sum(r.buckets for r in job.run())
    job_s = time.perf_counter() - started
    assert written == rows, (written, rows)
    steady_s = steady_minute(store, job, clock, minutes)
    engine.dispose()
    return {
        "series": float(len(store)),
        "series_buckets": float(rows),
        "compute_s": compute_s,
        "job_s": job_s,
        "compute_series_buckets_per_s": rows / compute_s,
        "job_series_buckets_per_s": rows / job_s,
        "steady_minute_run_s": steady_s,
    }


def steady_minute(store: SeriesStore, job: Rollup, clock: FakeClock, minutes: int) -> float:
    """The periodic cost: one more minute scraped, then the run that rolls it up."""
    first = minutes * 60_000 // STEP_MS
    scrape(store, np.arange(len(store), dtype=np.int64), steps=range(first, first + 4))
    store.view()
    clock.advance(60)
    started = time.perf_counter()
    (report,) = job.run()
    took = time.perf_counter() - started
    assert report.resolution_s == 60 and report.buckets == len(store), report
    return took


def read_back(url: str, minutes: int) -> dict[str, float]:
    engine = open_history(url)
    started = time.perf_counter()
    found = HistoryReader(engine).select(
        [equal("__name__", "m7_total")], T0_MS, T0_MS + minutes * 60_000, 60_000
    )
    took = time.perf_counter() - started
    engine.dispose()
    points = sum(s.values.size for s in found)
    return {"read_series": float(len(found)), "read_points": float(points), "read_s": took}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: temporary)")
    parser.add_argument("--url", default=None, help="any database URL instead, e.g. PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{args.db or Path(tmp) / 'bench.db'}"
        store = build(args.series, args.minutes)
        figures = run(store, url, args.minutes)
        figures.update(read_back(url, args.minutes))
    for key, value in figures.items():
        print(f"{key:>30}: {value:,.3f}")
    out = Path(__file__).parent / "results" / "rollups.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: exposition parsing and scrape ingestion (samples/s).

Parses a 10,000-series text body (the shape of a busy router: labelled counters and
histogram buckets) and, separately, ingests it into a SeriesStore the way the scraper
does (cached series text → store reference, one append per scrape).
Prints the figures and writes bench/results/exposition.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from safeship.metrics.exposition import parse, parse_series
from safeship.metrics.store import SeriesStore

SERIES = 10_000
ROUNDS = 20


def body() -> str:
    lines = ["# HELP req_total Requests.", "# TYPE req_total counter"]
    for i in range(SERIES):
        lines.append(
            f'req_total{{service="api",pool="stable",version="v{i % 7}",code="{200 + i % 5}",'
            f'path="/p/{i}"}} {i * 3.5}'
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    text = body()
    start = time.perf_counter()
    for _ in range(ROUNDS):
        scraped = parse(text)
    parse_rate = SERIES * ROUNDS / (time.perf_counter() - start)
    store, cache = SeriesStore(), {}
    start = time.perf_counter()
    for r in range(ROUNDS):
        scraped = parse(text)
        refs = np.fromiter(
            (
                cache[k] if k in cache else cache.setdefault(k, store.ref(parse_series(k)))
                for k in scraped.keys
            ),
            dtype=np.int64,
            count=len(scraped),
        )
        store.append_refs(refs, 1_700_000_000_000 + r * 1000, np.asarray(scraped.values))
    store.view()
    ingest_rate = SERIES * ROUNDS / (time.perf_counter() - start)
    figures = {"parse_samples_per_s": round(parse_rate), "ingest_samples_per_s": round(ingest_rate)}
    print(json.dumps(figures, indent=2))
    out = Path(__file__).parent / "results" / "exposition.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

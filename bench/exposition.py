"""Benchmark: exposition parsing and scrape ingestion (samples/s).

Parses a 10,000-series text body (the shape of a busy router: labelled counters) and,
separately, runs the real scraper over it (httpx in-memory transport, fake clock): parse,
series-cache lookups, append to the SeriesStore, staleness bookkeeping, report series.
Prints the figures and writes bench/results/exposition.json.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from safeship.metrics.exposition import parse
from safeship.metrics.scrape import Scraper
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock

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


def parse_rate(text: str) -> float:
    start = time.perf_counter()
    for _ in range(ROUNDS):
        parse(text)
    return SERIES * ROUNDS / (time.perf_counter() - start)


async def scrape_rate(text: str) -> float:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=text, headers={"content-type": "text/plain"})

    clock, store = FakeClock(), SeriesStore()
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    scraper = Scraper(store, clock=clock, client=client)
    scraper.set_urls("bench", [("http://127.0.0.1:1/metrics", {})], interval=1.0)
    await scraper.scrape_all()  # the first scrape fills the series cache
    start = time.perf_counter()
    for _ in range(ROUNDS):
        clock.advance(1.0)
        await scraper.scrape_all()
    store.view()  # include merging the scraped samples into the columns
    return SERIES * ROUNDS / (time.perf_counter() - start)


def main() -> None:
    text = body()
    figures = {
        "series_per_scrape": SERIES,
        "parse_samples_per_s": round(parse_rate(text)),
        "scrape_ingest_samples_per_s": round(asyncio.run(scrape_rate(text))),
    }
    print(json.dumps(figures, indent=2))
    out = Path(__file__).parent / "results" / "exposition.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

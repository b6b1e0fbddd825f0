"""The scraper over an in-memory HTTP transport: up, report series and staleness markers."""

from __future__ import annotations

import asyncio
import math

import httpx

from safeship.core.labels import NAME, is_stale
from safeship.metrics.index import Matcher
from safeship.metrics.promql import Engine, Vector
from safeship.metrics.scrape import Scraper
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock


class Site:
    """Bodies per URL path; a path missing from `bodies` answers 503."""

    def __init__(self) -> None:
        self.bodies: dict[str, str] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = self.bodies.get(request.url.path)
        if body is None:
            return httpx.Response(503)
        return httpx.Response(200, text=body, headers={"content-type": "text/plain"})


def _setup() -> tuple[Site, SeriesStore, Scraper, FakeClock]:
    site, store, clock = Site(), SeriesStore(), FakeClock()
    client = httpx.AsyncClient(transport=httpx.MockTransport(site.handle))
    scraper = Scraper(store, clock=clock, client=client)
    scraper.set_urls("app", [("http://127.0.0.1:9/a", {"zone": "z1"})], interval=1.0)
    return site, store, scraper, clock


def _values(store: SeriesStore, expr: str, t: float) -> dict[str, float]:
    result = Engine(store).instant(expr, t)
    assert isinstance(result, Vector)
    return {
        dict(labels).get("path", dict(labels).get(NAME, "")): v for labels, v in result.samples()
    }


def _last_raw(store: SeriesStore, name: str) -> list[float]:
    series = store.select([Matcher(NAME, "=", name)], 0, 2**41)
    return [float(s.values[-1]) for s in series]


def test_scrape_writes_samples_with_target_labels_and_report_series() -> None:
    site, store, scraper, clock = _setup()
    site.bodies["/a"] = 'req_total{path="/x"} 5\nreq_total{path="/y"} 7\n'
    asyncio.run(scraper.scrape_all())
    t = clock.now()
    assert _values(store, "req_total", t) == {"/x": 5.0, "/y": 7.0}
    up = Engine(store).instant('up{job="app",instance="127.0.0.1:9",zone="z1"}', t)
    assert isinstance(up, Vector) and up.values.tolist() == [1.0]
    assert _values(store, "scrape_samples_scraped", t) == {"scrape_samples_scraped": 2.0}
    assert _values(store, "scrape_series_added", t) == {"scrape_series_added": 2.0}


def test_series_that_vanish_get_a_staleness_marker() -> None:
    site, store, scraper, clock = _setup()
    site.bodies["/a"] = 'req_total{path="/x"} 5\nreq_total{path="/y"} 7\n'
    asyncio.run(scraper.scrape_all())
    clock.advance(1)
    site.bodies["/a"] = 'req_total{path="/x"} 6\n'
    asyncio.run(scraper.scrape_all())
    # Prometheus would still return /y for 5 minutes without the marker.
    assert _values(store, "req_total", clock.now()) == {"/x": 6.0}
    assert any(is_stale(v) for v in _last_raw(store, "req_total"))


def test_a_target_that_goes_down_reports_up_0_and_ends_its_series() -> None:
    site, store, scraper, clock = _setup()
    site.bodies["/a"] = "req_total 5\n"
    asyncio.run(scraper.scrape_all())
    clock.advance(1)
    del site.bodies["/a"]
    asyncio.run(scraper.scrape_all())
    t = clock.now()
    assert _values(store, "req_total", t) == {}
    assert _values(store, "up", t) == {"up": 0.0}
    assert "503" in (scraper.health()["http://127.0.0.1:9/a"].last_error or "")


def test_a_removed_target_has_every_series_marked_stale() -> None:
    site, store, scraper, clock = _setup()
    site.bodies["/a"] = "req_total 5\n"
    asyncio.run(scraper.scrape_all())
    clock.advance(1)
    scraper.set_urls("app", [])
    t = clock.now()
    assert _values(store, "req_total", t) == {}
    assert _values(store, "up", t) == {}
    assert scraper.targets() == []


def test_a_malformed_body_counts_as_down() -> None:
    site, store, scraper, clock = _setup()
    site.bodies["/a"] = "req_total{oops 5\n"
    asyncio.run(scraper.scrape_all())
    assert _values(store, "up", clock.now()) == {"up": 0.0}


def test_explicit_timestamps_are_honoured() -> None:
    site, store, scraper, clock = _setup()
    at_ms = int(clock.now() * 1000) - 10_000
    site.bodies["/a"] = f"old_total 3 {at_ms}\n"
    asyncio.run(scraper.scrape_all())
    result = Engine(store).instant("timestamp(old_total)", clock.now())
    assert isinstance(result, Vector)
    assert math.isclose(result.values[0], at_ms / 1000)


def test_the_loop_scrapes_on_its_interval_with_a_fake_clock() -> None:
    site, store, scraper, clock = _setup()
    site.bodies["/a"] = "req_total 1\n"

    async def run() -> None:
        async with scraper:
            for _ in range(50):
                await asyncio.sleep(0)

    asyncio.run(run())
    count = Engine(store).instant("count_over_time(up[1h])", clock.now())
    assert isinstance(count, Vector) and count.values[0] >= 3

"""The scraper: fetch every target's /metrics on its interval and write samples to the store.

Where it sits: targets come from static `scrape_configs` (config/scrape.py) and from
the caller at run time (`set_targets`: fleet replicas, the router, safeship itself); bodies
are parsed by metrics/exposition.py and land in the SeriesStore that the PromQL engine
reads. As Prometheus does, every scrape also writes `up`, `scrape_duration_seconds` and
`scrape_samples_scraped`, and a staleness marker ends each series that vanished from a
target, every series of a target that went down, and all series of a removed target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import numpy as np

from safeship.config.scrape import (
    ScrapeConfig,
    discovered_labels,
    series_labels,
    target_labels,
)
from safeship.core.clock import Clock
from safeship.core.labels import NAME, STALE_NAN, Labels, make_labels
from safeship.metrics.exposition import (
    ExpositionError,
    Scraped,
    is_openmetrics,
    parse,
    parse_series,
)
from safeship.metrics.store import Ints, SeriesStore

log = logging.getLogger(__name__)

ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
MAX_BODY = 64 * 1024 * 1024
REPORT = ("up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added")


@dataclass(frozen=True)
class Target:
    """One endpoint to scrape, with the labels every series from it gets."""

    job: str
    url: str
    labels: Labels
    interval: float
    timeout: float
    honor_labels: bool = False
    honor_timestamps: bool = True


@dataclass
class TargetHealth:
    up: bool = False
    last_error: str | None = None
    last_scrape: float | None = None
    duration_s: float = 0.0
    samples: int = 0


@dataclass
class _State:
    """What the scraper remembers per target between scrapes."""

    target: Target
    cache: dict[str, int] = field(default_factory=dict)  # series text → store reference
    live: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    report_refs: np.ndarray | None = None
    health: TargetHealth = field(default_factory=TargetHealth)
    task: asyncio.Task[None] | None = None


class Scraper:
    """Scrapes targets into `store`; `start()` runs a loop per target, `scrape_all()` one round."""

    def __init__(
        self,
        store: SeriesStore,
        *,
        clock: Clock,
        configs: Sequence[ScrapeConfig] = (),
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.store, self.clock = store, clock
        self._client = client or httpx.AsyncClient(trust_env=False)
        self._owns_client = client is None
        self._states: dict[tuple[str, str], _State] = {}
        self._running = False
        for config in configs:
            self.set_targets(config.job_name, static_targets(config))

    # -- targets ---------------------------------------------------------------------------
    def set_targets(self, job: str, targets: Sequence[Target]) -> None:
        """Replace the job's targets; removed ones get staleness markers, new ones start."""
        wanted = {(job, t.url): t for t in targets}
        for key in [k for k in self._states if k[0] == job and k not in wanted]:
            self._remove(key)
        for key, target in wanted.items():
            state = self._states.get(key)
            if state is not None and state.target == target:
                continue
            if state is not None:
                self._remove(key)
            self._states[key] = _State(target)
            if self._running:
                self._launch(self._states[key])

    def set_urls(
        self,
        job: str,
        urls: Sequence[tuple[str, Mapping[str, str]]],
        *,
        interval: float = 15.0,
        timeout: float | None = None,
    ) -> None:
        """`set_targets` from (url, extra labels) pairs: the fleet's replicas, the router..."""
        made = [
            dynamic_target(job, url, labels, interval=interval, timeout=timeout)
            for url, labels in urls
        ]
        self.set_targets(job, [t for t in made if t is not None])

    def targets(self) -> list[Target]:
        return [s.target for s in self._states.values()]

    def health(self) -> dict[str, TargetHealth]:
        return {s.target.url: s.health for s in self._states.values()}

    @property
    def running(self) -> bool:
        """Between start() and stop(): the per-target loops are (meant to be) scraping."""
        return self._running

    # -- running ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._running = True
        for state in self._states.values():
            self._launch(state)

    async def stop(self) -> None:
        self._running = False
        tasks = [s.task for s in self._states.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for state in self._states.values():
            state.task = None
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Scraper:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def scrape_all(self) -> None:
        """One scrape of every target, side by side (tests and a first fill use it)."""
        await asyncio.gather(*(self._scrape(s) for s in list(self._states.values())))

    def _launch(self, state: _State) -> None:
        if state.task is None or state.task.done():
            state.task = asyncio.get_running_loop().create_task(self._loop(state))

    async def _loop(self, state: _State) -> None:
        interval = state.target.interval
        while True:
            started = self.clock.now()
            try:
                await self._scrape(state)
            except Exception:  # a scrape must never kill the loop; it is reported as down
                log.exception("scrape of %s failed", state.target.url)
            await self.clock.sleep(max(0.0, started + interval - self.clock.now()))

    def _remove(self, key: tuple[str, str]) -> None:
        state = self._states.pop(key)
        if state.task is not None:
            state.task.cancel()
        t_ms = round(self.clock.now() * 1000)
        report = state.report_refs if state.report_refs is not None else np.empty(0, np.int64)
        self._mark_stale(np.concatenate([state.live, report]), t_ms)

    # -- one scrape ------------------------------------------------------------------------
    async def _scrape(self, state: _State) -> None:
        target = state.target
        started = self.clock.now()
        t_ms = round(started * 1000)
        try:
            scraped = await self._fetch(target)
            added = self._write(state, scraped, t_ms)
            error = None
        except (httpx.HTTPError, ExpositionError, OSError, ValueError) as exc:
            scraped, added, error = Scraped(), 0, f"{type(exc).__name__}: {exc}"
            self._mark_stale(state.live, t_ms)
            state.live = np.empty(0, dtype=np.int64)
        duration = max(0.0, self.clock.now() - started)
        state.health = TargetHealth(error is None, error, started, duration, len(scraped))
        self._report(state, t_ms, (float(error is None), duration, len(scraped), added))

    async def _fetch(self, target: Target) -> Scraped:
        headers = {
            "Accept": ACCEPT,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{target.timeout:g}",
        }
        async with asyncio.timeout(target.timeout):
            response = await self._client.get(target.url, headers=headers, timeout=target.timeout)
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}", request=response.request, response=response
            )
        if len(response.content) > MAX_BODY:
            raise ValueError(f"body larger than {MAX_BODY} bytes")
        openmetrics = is_openmetrics(response.headers.get("content-type"))
        return parse(response.text, openmetrics=openmetrics)

    def _write(self, state: _State, scraped: Scraped, t_ms: int) -> int:
        """Append the scrape; mark stale what vanished; return how many series were new."""
        before = len(state.cache)
        refs = self._refs(state, scraped.keys)
        values = np.asarray(scraped.values, dtype=np.float64)
        own = [s is not None for s in scraped.timestamps] if state.target.honor_timestamps else []
        if any(own):
            stamps = [t_ms if s is None else s for s in scraped.timestamps]
            self.store.append_refs(refs, np.asarray(stamps, dtype=np.int64), values)
            # Series with their own timestamps get no staleness markers (as in Prometheus).
            live = np.unique(refs[~np.asarray(own, dtype=bool)])
        else:
            self.store.append_refs(refs, t_ms, values)
            live = np.unique(refs)
        self._mark_stale(np.setdiff1d(state.live, live, assume_unique=True), t_ms)
        state.live = live
        return len(state.cache) - before

    def _refs(self, state: _State, keys: list[str]) -> Ints:
        """Store references of the scraped series; the cache makes a known series a dict hit."""
        cache = state.cache
        refs = [cache.get(key, -1) for key in keys]
        if -1 in refs:
            pairs = zip(refs, keys, strict=True)
            refs = [ref if ref != -1 else self._ref(state, key) for ref, key in pairs]
        return np.asarray(refs, dtype=np.int64)

    def _ref(self, state: _State, key: str) -> int:
        ref = state.cache.get(key)
        if ref is None:
            target = state.target
            scraped = parse_series(key)
            labels = series_labels(scraped, target.labels, honor_labels=target.honor_labels)
            ref = state.cache[key] = self.store.ref(labels)
        return ref

    def _report(self, state: _State, t_ms: int, values: tuple[float, ...]) -> None:
        if state.report_refs is None:
            base = dict(state.target.labels)
            state.report_refs = np.asarray(
                [self.store.ref(make_labels({**base, NAME: name})) for name in REPORT],
                dtype=np.int64,
            )
        self.store.append_refs(state.report_refs, t_ms, np.asarray(values, dtype=np.float64))

    def _mark_stale(self, refs: np.ndarray, t_ms: int) -> None:
        if refs.size:
            self.store.append_refs(refs, t_ms, np.full(refs.size, STALE_NAN))


def static_targets(config: ScrapeConfig) -> list[Target]:
    """The targets of a static scrape config, after its relabelling."""
    found = []
    for group in config.static_configs:
        for address in group.targets:
            made = _target(config, discovered_labels(config, address, group.labels))
            if made is not None:
                found.append(made)
    return found


def dynamic_target(
    job: str,
    url: str,
    labels: Mapping[str, str],
    *,
    interval: float,
    timeout: float | None = None,
) -> Target | None:
    """A target given by URL at run time, labelled like a static one of job `job`."""
    parts = urlsplit(url)
    config = ScrapeConfig(
        job_name=job,
        scrape_interval=interval,
        scrape_timeout=min(timeout or interval, interval),
        scheme="https" if parts.scheme == "https" else "http",
    )
    path = parts.path or "/metrics"
    return _target(config, discovered_labels(config, parts.netloc, labels, metrics_path=path))


def _target(config: ScrapeConfig, discovered: dict[str, str]) -> Target | None:
    made = target_labels(discovered, config.relabel_configs)
    if made is None:
        return None
    full, public = made
    url = f"{full.get('__scheme__', 'http')}://{full['__address__']}"
    url += full.get("__metrics_path__", config.metrics_path)
    return Target(
        job=config.job_name,
        url=url,
        labels=public,
        interval=config.scrape_interval,
        timeout=config.timeout,
        honor_labels=config.honor_labels,
        honor_timestamps=config.honor_timestamps,
    )

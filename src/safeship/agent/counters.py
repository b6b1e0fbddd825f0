"""The router's counters of one service, summed over its workers' metrics endpoints.

Each worker counts only the requests it served and exposes them on its own random port; a
Prometheus scrape config points at `router.metricsListen`, where the agent serves them all
with a `worker` label (agent.exposition), so `sum by (version)` is exact there.
For the controller's `Router.counters()` the agent scrapes every worker and adds them up. A
worker that was restarted starts again from zero, so the sum can go down; rate() in PromQL
handles such counter resets, and the analysis windows read deltas.
"""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from safeship.core.types import DURATION_BUCKETS, VersionCounters

_REQUESTS = "safeship_router_requests"
_DURATIONS = "safeship_router_request_duration_seconds"


async def scrape_sum(client: httpx.AsyncClient, ports: list[int]) -> dict[str, VersionCounters]:
    """Counters per version over the workers at 127.0.0.1:`ports` (unreachable ones skipped)."""
    bodies = await asyncio.gather(*(fetch_text(client, port) for port in ports))
    out: dict[str, VersionCounters] = {}
    for body in bodies:
        if body is not None:
            add_exposition(out, body)
    return out


def add_exposition(out: dict[str, VersionCounters], text: str) -> None:
    """Add one worker's exposition to `out`."""
    buckets = len(DURATION_BUCKETS) + 1
    for family in text_string_to_metric_families(text):
        if family.name not in (_REQUESTS, _DURATIONS):
            continue
        for sample in family.samples:
            version = sample.labels.get("version", "")
            counters = out.setdefault(version, VersionCounters(duration_buckets=[0] * buckets))
            _add(counters, sample.name, sample.labels, sample.value)


def _add(counters: VersionCounters, name: str, labels: dict[str, str], value: float) -> None:
    if name == f"{_REQUESTS}_total":
        counters.requests += int(value)
        if labels.get("code", "").startswith("5"):
            counters.errors += int(value)
    elif name == f"{_DURATIONS}_sum":
        counters.duration_sum += value
    elif name == f"{_DURATIONS}_bucket":
        le = labels["le"]
        index = len(DURATION_BUCKETS) if le == "+Inf" else DURATION_BUCKETS.index(float(le))
        counters.duration_buckets[index] += int(value)


async def fetch_text(client: httpx.AsyncClient, port: int) -> str | None:
    """The exposition of the worker at 127.0.0.1:`port`; None when it does not answer."""
    try:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    except httpx.HTTPError:
        return None
    return response.text if response.is_success else None

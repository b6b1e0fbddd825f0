"""One exposition out of a service's router workers' expositions (pure).

Each router worker exports its own series on its own loopback port. The agent serves the
rollout's `router.metricsListen` by scraping them all and merging: every metric family
once (HELP and TYPE from the first worker exposing it), every sample with a
`worker="<unit id>"` label added. Samples are not summed: a restarted worker's counters
start again from zero as a series of their own, so `rate()` stays right, and queries
aggregate with `sum by (...)`. A worker whose text is missing (it did not answer) or does
not parse is left out whole and reported, so the caller can count it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from safeship.metrics.exposition import ExpositionError, parse

WORKER_LABEL = "worker"
SCRAPE_ERRORS = "safeship_agent_worker_scrape_errors"


@dataclass(frozen=True)
class Merged:
    families: list[Metric]
    failed: list[str]  # worker ids left out: no answer, or text that does not parse


def merge(texts: Mapping[str, str | None]) -> Merged:
    """The families of every worker's text (worker id → text, None if it did not answer)."""
    merged: dict[str, Metric] = {}
    failed: list[str] = []
    for worker, text in texts.items():
        families = _parse(text)
        if families is None:
            failed.append(worker)
            continue
        for family in families:
            into = merged.get(family.name)
            if into is None:
                into = merged[family.name] = Metric(family.name, family.documentation, family.type)
            elif into.type != family.type:
                continue  # a worker of another build; its family cannot join this one
            into.samples.extend(
                s._replace(labels={**s.labels, WORKER_LABEL: worker}) for s in family.samples
            )
    return Merged(list(merged.values()), failed)


def scrape_errors(service: str, count: int) -> Metric:
    """The agent's own counter of worker scrapes that failed for `service`."""
    family = CounterMetricFamily(
        SCRAPE_ERRORS,
        "Scrapes of a router worker that failed (no answer, or text that does not parse).",
        labels=["service"],
    )
    family.add_metric([service], count)
    return family


def render(families: Iterable[Metric]) -> bytes:
    """Prometheus text format 0.0.4."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families)))
    return generate_latest(registry)


def _parse(text: str | None) -> list[Metric] | None:
    if text is None:
        return None
    try:
        parse(text)  # the scraper's own, stricter reading first (names the bad line)
        return list(text_string_to_metric_families(text))
    except (ExpositionError, ValueError, TypeError, IndexError, KeyError):
        return None


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing to check against other collectors: one per render

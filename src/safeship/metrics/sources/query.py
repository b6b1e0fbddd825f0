"""The PromQL both query sources share (`promql.py` in-process, `prometheus.py` over HTTP).

Where it sits: the reconciler asks `measure(metric, version=, window=)` each analysis tick;
`QueryMetricsSource` turns that into PromQL and asks a `Querier` to run it. Built-in metrics
are PromQL templates over the router's series (`safeship_router_requests_total`,
`..._request_duration_seconds_bucket`), Flagger style; a metric's own `query` has
{{version}}, {{service}} and {{window}} filled in, and stands on the requests of that pool
(or on its `samplesQuery`), its data floor. For a `compare` metric the same is
measured for the baseline: the series of the stable pool, or with a fresh baseline
(`baseline: {pool: fresh}`) of the pool="baseline" replicas. Any query error or unreachable
source becomes a Measurement with `error` set (inconclusive).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar, Protocol

from safeship.analysis.judge import Observed
from safeship.analysis.measurement import Measurement
from safeship.analysis.samples import Counts, Histogram
from safeship.config.models import MetricSpec
from safeship.core.clock import Clock
from safeship.core.durations import format_duration
from safeship.core.errors import ExitCode, QueryError

REQUESTS = "safeship_router_requests_total"
BUCKETS = "safeship_router_request_duration_seconds_bucket"
Sample = tuple[Mapping[str, str], float]


class SourceError(QueryError):
    """A query failed or the metrics source could not be reached: the step cannot be judged.

    Not the user's input alone (the source may be down), so it leaves as "could not run".
    """

    exit_code: ClassVar[ExitCode] = ExitCode.UNAVAILABLE
    http_status: ClassVar[int] = 503


class Querier(Protocol):
    """Evaluates one PromQL instant query at t (seconds since the epoch)."""

    async def instant(self, expr: str, t: float) -> list[Sample]: ...


class QueryMetricsSource:
    """Analysis measurements from PromQL over any Querier; `baseline_pool` is the router's
    `pool` label whose series a `compare` metric is judged against."""

    def __init__(
        self, querier: Querier, *, service: str, clock: Clock, baseline_pool: str = "stable"
    ) -> None:
        self.querier, self.service, self.clock = querier, service, clock
        self.baseline_pool = baseline_pool

    def with_baseline(self, pool: str) -> QueryMetricsSource:
        """The same source (same class, same querier) judging `compare` metrics against the
        series of `pool`."""
        other = copy.copy(self)
        other.baseline_pool = pool
        return other

    async def measure(
        self, metric: MetricSpec, *, version: str, window: float, since: float | None = None
    ) -> Measurement:
        if since is not None:  # exactly from `since` on: a range in milliseconds, not rounded
            window = max(self.clock.now() - since, 0.001)
        try:
            canary = await self._observe(
                metric, f'version="{_esc(version)}"', version, window, pool="canary"
            )
            if metric.compare is None:
                return canary
            stable = await self._stable_version()
            pool = f'pool="{_esc(self.baseline_pool)}"'
            base = await self._observe(metric, pool, stable or "", window, pool=self.baseline_pool)
        except SourceError as exc:
            return Measurement(None, 0, window, error=str(exc))
        return replace(canary, baseline=base)

    async def _observe(
        self, metric: MetricSpec, pick: str, version: str, window: float, *, pool: str
    ) -> Observed:
        w = _range(window)
        sel = f'service="{_esc(self.service)}",{pick}'
        if metric.query is not None:
            expr = fill(metric.query, version=version, service=self.service, window=w, pool=pool)
            values = tuple(v for _, v in await self._query(expr))
            samples = await self._samples(metric.samples_query, sel, w, version=version, pool=pool)
            first = values[0] if len(values) == 1 else None
            return Observed(first, samples, window, values=values)
        counts = await self._counts(sel, w)
        value = await self._builtin(metric.builtin or "", sel, w) if counts.trials else None
        histogram = await self._histogram(sel, w) if metric.compare is not None else None
        return Observed(value, counts.trials, window, counts=counts, histogram=histogram)

    async def _samples(
        self, samples_query: str | None, sel: str, w: str, *, version: str, pool: str
    ) -> int:
        """What a query's value stands on: `samplesQuery` summed, else the pool's requests."""
        if samples_query is None:
            return (await self._counts(sel, w)).trials
        expr = fill(samples_query, version=version, service=self.service, window=w, pool=pool)
        found = [v for _, v in await self._query(expr) if not math.isnan(v)]
        return max(0, round(sum(found)))

    async def _builtin(self, builtin: str, sel: str, w: str) -> float | None:
        return _one(await self._query(builtin_query(builtin, selector=sel, window=w)))

    async def _counts(self, sel: str, w: str) -> Counts:
        total = _one(await self._query(f"sum(increase({REQUESTS}{{{sel}}}[{w}]))")) or 0.0
        errors = f'sum(increase({REQUESTS}{{{sel},code=~"5.."}}[{w}]))'
        bad = _one(await self._query(errors)) or 0.0
        trials = max(0, round(total))
        return Counts(trials, min(trials, max(0, round(bad))))

    async def _histogram(self, sel: str, w: str) -> Histogram | None:
        found = await self._query(f"sum by (le) (increase({BUCKETS}{{{sel}}}[{w}]))")
        return histogram_of(found)

    async def _stable_version(self) -> str | None:
        """The baseline's version, to fill {{version}} of a query metric (same as stable's)."""
        sel = f'service="{_esc(self.service)}",pool="{_esc(self.baseline_pool)}"'
        expr = f"max by (version) ({REQUESTS}{{{sel}}})"
        found = await self._query(expr)
        return found[0][0].get("version") if found else None

    async def _query(self, expr: str) -> list[Sample]:
        return await self.querier.instant(expr, self.clock.now())


def builtin_query(builtin: str, *, selector: str, window: str) -> str:
    """The PromQL behind a built-in metric, over the router's series."""
    total = f"sum(rate({REQUESTS}{{{selector}}}[{window}]))"
    if builtin == "request-success-rate":
        return f'sum(rate({REQUESTS}{{{selector},code!~"5.."}}[{window}])) / {total}'
    if builtin == "request-duration-p99":
        inner = f"sum by (le) (rate({BUCKETS}{{{selector}}}[{window}]))"
        return f"histogram_quantile(0.99, {inner}) * 1000"
    return total


def fill(template: str, *, version: str, service: str, window: str, pool: str = "canary") -> str:
    """Substitute {{version}}, {{service}}, {{window}} and {{pool}} (the router's pool label:
    canary, or the baseline's pool; spaces inside braces allowed)."""
    out = template
    names = (("version", version), ("service", service), ("window", window), ("pool", pool))
    for name, value in names:
        for form in ("{{" + name + "}}", "{{ " + name + " }}"):
            out = out.replace(form, value)
    return out


def histogram_of(samples: list[Sample]) -> Histogram | None:
    """A cumulative Histogram from `sum by (le)` results; None without a +Inf bucket."""
    by_le = sorted((float(labels.get("le", "nan")), value) for labels, value in samples)
    finite = [(le, v) for le, v in by_le if math.isfinite(le)]
    inf = [v for le, v in by_le if le == math.inf]
    if not inf:
        return None
    cumulative, running = [], 0
    for _, value in finite:
        running = max(running, round(value))  # extrapolation may wobble; keep it monotone
        cumulative.append(running)
    count = max(running, round(inf[0]))
    return Histogram(tuple(le for le, _ in finite), tuple(cumulative), count)


def _range(seconds: float) -> str:
    """A PromQL range: as people write it for whole seconds, else exact to the millisecond
    (a cumulative span must not reach back into the previous traffic split)."""
    if seconds == round(seconds) and seconds < 3600:
        return format_duration(seconds)
    return f"{max(1, round(seconds * 1000))}ms"


def _one(samples: list[Sample]) -> float | None:
    if len(samples) != 1 or math.isnan(samples[0][1]):
        return None
    return samples[0][1]


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')

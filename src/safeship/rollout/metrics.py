"""Rollout metrics for Prometheus: a collector the server registers on a registry it owns.

Reads rollout views (status + steps + target health) through a callable at scrape time, so
it holds no state of its own: `RolloutCollector(views, registry=registry)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from safeship.rollout.state import Phase, RolloutStatus
from safeship.rollout.steps import Step
from safeship.rollout.tracker import track


@dataclass(frozen=True)
class RolloutView:
    """One rollout as the collector sees it; `health` is target → healthy, when observed."""

    status: RolloutStatus
    steps: Sequence[Step]
    targets: Sequence[str] = ()
    health: Mapping[str, bool] = field(default_factory=dict)


class RolloutCollector(Collector):
    def __init__(
        self,
        views: Callable[[], Iterable[RolloutView]],
        *,
        registry: CollectorRegistry,
        clock: Callable[[], float],
    ) -> None:
        self._views, self._clock = views, clock
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        labels = ["service", "rollout"]
        progress = GaugeMetricFamily(
            "safeship_migration_progress_ratio", "Share of the rollout done (0..1).", labels=labels
        )
        step = GaugeMetricFamily("safeship_rollout_step", "Current step index.", labels=labels)
        weight = GaugeMetricFamily(
            "safeship_rollout_weight", "Canary traffic weight in percent.", labels=labels
        )
        phase = GaugeMetricFamily(
            "safeship_rollout_phase", "1 for the rollout's phase.", labels=[*labels, "phase"]
        )
        health = GaugeMetricFamily(
            "safeship_target_health", "1 if the target is healthy.", labels=["service", "target"]
        )
        for view in self._views():
            s = view.status
            ids = [s.service, s.rollout_id]
            migration = track(view.steps, s, view.targets, self._clock())
            progress.add_metric(ids, migration.progress)
            step.add_metric(ids, s.step_index)
            weight.add_metric(ids, s.canary_weight)
            for p in Phase:
                phase.add_metric([*ids, p.value], 1.0 if p is s.phase else 0.0)
            for target, healthy in view.health.items():
                health.add_metric([s.service, target], 1.0 if healthy else 0.0)
        yield from (progress, step, weight, phase, health)

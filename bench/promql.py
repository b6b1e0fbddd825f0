"""PromQL bench: ingest rate into the embedded store, and one round of 1,000 alert
expressions over 100,000 series (1,000 instances x 100 metrics, 1 h of 15 s samples).

    .venv/bin/python bench/promql.py [--instances 1000] [--metrics 100] [--rounds 3]

Prints the figures and writes bench/results/promql.json. Target: <= 1 s per round, the
first (cold) round included: it runs in a fresh process with empty memos and caches, so
run the script several times and take the median of `round_first_s`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore

STEP_MS = 15_000
HOUR_MS = 3_600_000
T0_MS = 1_700_000_000_000


def build(instances: int, metrics: int, minutes: int = 60) -> tuple[SeriesStore, dict[str, float]]:
    store = SeriesStore()
    refs = _register(store, instances, metrics)
    rng = np.random.default_rng(42)
    kinds = np.asarray([m % 4 for m in range(metrics) for _ in range(instances)])
    slope = rng.uniform(0.5, 20.0, refs.size)
    points = minutes * 60_000 // STEP_MS
    started = time.perf_counter()
    for step in range(points):
        t = T0_MS + step * STEP_MS
        values = np.where(kinds == 3, rng.uniform(0, 100, refs.size), slope * step)
        store.append_refs(refs, t, values)
    appended = time.perf_counter() - started
    started = time.perf_counter()
    store.view()
    merged = time.perf_counter() - started
    samples = refs.size * points
    return store, {
        "series": float(refs.size),
        "samples": float(samples),
        "append_s": appended,
        "merge_s": merged,
        "ingest_samples_per_s": samples / (appended + merged),
    }


def _register(store: SeriesStore, instances: int, metrics: int) -> np.ndarray:
    refs = []
    for m in range(metrics):
        for i in range(instances):
            labels = {"__name__": _metric(m), "job": f"job{i % 20}", "instance": f"i{i}"}
            if m % 4 == 2:
                labels["le"] = ("0.1", "0.5", "1", "+Inf")[i % 4]
                labels["instance"] = f"i{i // 4}"
            refs.append(store.ref(labels))
    return np.asarray(refs, dtype=np.int64)


def _metric(m: int) -> str:
    kind = ("requests_total", "errors_total", "latency_seconds_bucket", "gauge")[m % 4]
    return f"m{m // 4}_{kind}"


def expressions(metrics: int, count: int) -> list[str]:
    shapes = [
        "sum by (job) (rate(m{n}_errors_total[5m]))"
        " / sum by (job) (rate(m{n}_requests_total[5m])) > 0.05",
        "histogram_quantile(0.99, sum by (job, le) (rate(m{n}_latency_seconds_bucket[5m]))) > 0.5",
        "avg_over_time(m{n}_gauge[10m]) > 90",
        "rate(m{n}_requests_total[5m]) > 100",
        'sum by (job) (increase(m{n}_errors_total{{job="job3"}}[15m])) > 10',
        "max by (job) (m{n}_gauge) < 1",
        'absent(m{n}_requests_total{{job="job1"}})',
        "count by (job) (m{n}_gauge > 50) > 10",
    ]
    groups = metrics // 4
    return [shapes[k % len(shapes)].format(n=(k // len(shapes)) % groups) for k in range(count)]


def evaluate_round(engine: Engine, exprs: list[str], t: float) -> int:
    return sum(len(engine.instant(e, t)) for e in exprs)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--expressions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    store, figures = build(args.instances, args.metrics, args.minutes)
    exprs = expressions(args.metrics, args.expressions)
    t = (T0_MS + args.minutes * 60_000 - STEP_MS) / 1000
    if args.profile:
        import cProfile

        cProfile.runctx(
            "evaluate_round(Engine(store), exprs, t)", globals(), locals(), sort="cumtime"
        )
        return
    rounds = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        # A fresh engine per round: selector caching only helps within one round.
        hits = evaluate_round(Engine(store), exprs, t)
        rounds.append(time.perf_counter() - started)
    figures.update(
        load_avg_1m=os.getloadavg()[0],  # the machine is shared: say how busy it was
        expressions=float(len(exprs)),
        round_first_s=rounds[0],
        round_best_s=min(rounds),
        round_median_s=float(np.median(rounds)),
        alert_samples=float(hits),
    )
    for key, value in figures.items():
        print(f"{key:>22}: {value:,.3f}")
    out = Path(__file__).parent / "results" / "promql.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

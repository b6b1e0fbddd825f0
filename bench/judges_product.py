"""Bench: the judges measured through the product, not on hand-made counts.

Each run is one rollout flown by `safeship.wiring.simulate.simulate`, the wiring of
`safeship simulate`: the real reconciler and pure planner on the simulated fleet and
`SimulatedRouter`, measured by the real `RouterMetricsSource` on the virtual clock. Only the
status store is left out (a null sink): it is not what is measured, and SQLite would be most
of the time. 50 req/s, `setWeight: 50`, then one analysis step of 60 measurements (interval
5 s, window 30 s: the documented defaults), so up to 300 s of looks.

Judges: `sequential` (errors and latency, each at alpha 0.005, so the rollout's false-rollback
rate is at most 1 % by the union bound) and `threshold` at the documented settings of
examples/canary.yaml (success rate >= 0.99, p99 <= 300 ms), for contrast.
Scenarios: `aa` (canary = stable: 0.5 % errors, 100 ms median latency), `errors` (canary
10 % errors), `latency` (canary +50 % latency). Prints a table, writes
bench/results/judges_product.json: rollbacks, their 95 % one-sided Clopper-Pearson upper
bound, and the median seconds from the start of the analysis to the rollback.

    .venv/bin/python bench/judges_product.py [--aa 1000] [--bad 200] [--workers 2] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from scipy.stats import beta

from safeship.config.models import RolloutSpec
from safeship.fleet.simulated import FleetModel, VersionBehaviour
from safeship.rollout.state import Plan
from safeship.wiring.simulate import Flight, simulate

RESULTS = Path(__file__).parent / "results" / "judges_product.json"
RATE, BASE_ERROR, BAD_ERROR, SLOWDOWN = 50.0, 0.005, 0.10, 1.5
LOOKS = 60
JUDGES: dict[str, list[dict[str, Any]]] = {
    "sequential": [
        {"name": "errors", "builtin": "request-success-rate"}
        | {"compare": {"test": "sequential", "alpha": 0.005}},
        {"name": "latency", "builtin": "request-duration-p99"}
        | {"compare": {"test": "sequential", "alpha": 0.005}},
    ],
    "threshold": [
        {"name": "success-rate", "builtin": "request-success-rate", "min": 0.99},
        {"name": "latency-p99", "builtin": "request-duration-p99", "max": 300},
    ],
}
SCENARIOS = {  # the canary's behaviour, as (error ratio, latency factor)
    "aa": (BASE_ERROR, 1.0),
    "errors": (BAD_ERROR, 1.0),
    "latency": (BASE_ERROR, SLOWDOWN),
}


class NullSink:
    """Takes each plan and keeps nothing: the judges are measured, not the status store."""

    def record(self, plan: Plan, *, spec: RolloutSpec) -> None:
        return None


def spec(judge: str) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "service": {"name": "web", "command": ["serve", "{port}"], "stable": "v1"},
            "fleet": {"replicas": 4},
            "analysis": {"interval": "5s", "window": "30s", "metrics": JUDGES[judge]},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"analysis": {"count": LOOKS}}]}},
        }
    )


def fly(task: tuple[str, str, int, float]) -> dict[str, Any]:
    """One rollout: how it ended and, if rolled back, seconds from analysis start to it."""
    judge, scenario, seed, median_ms = task
    error, slower = SCENARIOS[scenario]
    behaviours = {
        "v1": VersionBehaviour(error_ratio=BASE_ERROR, latency_ms=median_ms),
        "v2": VersionBehaviour(error_ratio=error, latency_ms=median_ms * slower),
    }
    model = FleetModel(request_rate=RATE, behaviours=behaviours)
    flight = asyncio.run(
        simulate(spec(judge), version="v2", targets=4, model=model, seed=seed, sink=NullSink())
    )
    return {"judge": judge, "scenario": scenario, "verdict": flight.verdict, "ttf": _ttf(flight)}


def _ttf(flight: Flight) -> float | None:
    started = next((e.at for e in flight.timeline if e.text.startswith("step 1:")), None)
    back = next((e.at for e in flight.timeline if e.text.startswith("rolling back")), None)
    return None if started is None or back is None else back - started


def upper_bound(failures: int, runs: int, *, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a rate."""
    return 1.0 if failures >= runs else float(beta.ppf(level, failures + 1, runs - failures))


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for judge in JUDGES:
        for scenario in SCENARIOS:
            mine = [r for r in rows if r["judge"] == judge and r["scenario"] == scenario]
            back = [r for r in mine if r["verdict"] == "roll back"]
            ttf = [r["ttf"] for r in back if r["ttf"] is not None]
            out[f"{judge}/{scenario}"] = {
                "runs": len(mine),
                "rolled_back": len(back),
                "rate": len(back) / len(mine) if mine else None,
                "upper_95": upper_bound(len(back), len(mine)) if mine else None,
                "paused": sum(r["verdict"] == "pause" for r in mine),
                "median_s_to_fail": statistics.median(ttf) if ttf else None,
            }
    return out


def main() -> None:
    args = parse_args()
    runs = {"aa": args.aa, "errors": args.bad, "latency": args.bad}
    tasks = [
        (j, s, seed, args.median_ms) for j in JUDGES for s, n in runs.items() for seed in range(n)
    ]
    began = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(fly, tasks, chunksize=8))
    summary = summarise(rows)
    elapsed = time.perf_counter() - began
    print_table(summary)
    print(f"{len(tasks)} rollouts in {elapsed:.0f} s on {args.workers} workers")
    settings = {
        "rate": RATE,
        "share": 0.5,
        "looks": LOOKS,
        "interval_s": 5,
        "window_s": 30,
        "median_latency_ms": args.median_ms,
        "base_error": BASE_ERROR,
        "bad_error": BAD_ERROR,
        "slowdown": SLOWDOWN,
    }
    payload = {"settings": settings, "elapsed_s": elapsed, "results": summary}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=1000, help="A/A rollouts per judge")
    parser.add_argument("--bad", type=int, default=200, help="bad-canary rollouts per scenario")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--median-ms",
        type=float,
        default=100.0,
        help="median latency (log-normal); at 20 ms the router's bounds are 2x apart and no"
        " latency judge sees +50%%",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 40 A/A, 10 bad")
    args = parser.parse_args()
    if args.quick:
        args.aa, args.bad = 40, 10
    return args


def print_table(summary: dict[str, dict[str, Any]]) -> None:
    print(f"{'judge/scenario':<22}{'runs':>6}{'rolled back':>13}{'95% upper':>11}"
          f"{'paused':>8}{'median s to fail':>18}")  # fmt: skip
    for name, row in summary.items():
        ttf = row["median_s_to_fail"]
        print(
            f"{name:<22}{row['runs']:>6}{row['rate']:>13.2%}{row['upper_95']:>11.2%}"
            f"{row['paused']:>8}{'-' if ttf is None else f'{ttf:.1f}':>18}"
        )


if __name__ == "__main__":
    main()

"""How far the flight simulator scales: one rollout over 10,000 and 100,000 simulated targets.

Each size runs in its own process (so peak RSS is that flight's alone) through the real
`simulate()` — the same reconciler, planner, judges and an in-memory SQLite journal. The
strategy is `waves` (canary targets, then 5/25/50/75/100%, analysis between waves); if the
engine cannot fly waves yet, the canary strategy over the same fleet size is used instead
and the JSON says so. Targets: 10,000 in <= 30 s wall and <= 1 GB peak RSS.

    .venv/bin/python bench/simulate_scale.py [--sizes 10000,100000] [--seed 1]

Prints figures; writes bench/results/simulate_scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "simulate_scale.json"
WALL_LIMIT_S, RSS_LIMIT_MB, GATED_SIZE = 30.0, 1024.0, 10_000
METRICS = [{"name": "success", "builtin": "request-success-rate", "min": 0.99, "minSamples": 50}]


def spec_document(strategy: str, targets: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "service": {"name": "node", "command": ["node", "--port", "{port}"], "stable": "v1"},
        "analysis": {"interval": "30s", "window": "1m", "metrics": METRICS},
        "fleet": {"replicas": min(targets, 1000)},  # the simulator resizes it to `targets`
    }
    analysis = {"count": 3}
    if strategy == "waves":
        doc["strategy"] = {
            "waves": {"canary": {"count": 10}, "waves": [5, 25, 50, 75, 100], "analysis": analysis}
        }
    else:
        steps: list[dict[str, Any]] = []
        for weight in (5, 25, 50, 75):
            steps += [{"setWeight": weight}, {"analysis": analysis}]
        canaries = max(1, min(targets, 1000) // 20)
        doc["strategy"] = {"canary": {"canaryReplicas": canaries, "steps": steps}}
    return doc


def fly_one(strategy: str, targets: int, seed: int) -> dict[str, Any]:
    """One flight in this process; returns its figures."""
    from safeship.config.models import RolloutSpec
    from safeship.fleet.simulated import FleetModel
    from safeship.wiring.simulate import simulate

    spec = RolloutSpec.model_validate(spec_document(strategy, targets))
    model = FleetModel(request_rate=float(max(1000, targets)))  # about 1 req/s per target
    started = time.perf_counter()
    flight = asyncio.run(simulate(spec, version="v2", targets=targets, model=model, seed=seed))
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "strategy": strategy,
        "targets": targets,
        "phase": flight.phase,
        "verdict": flight.verdict,
        "reason": flight.reason,
        "virtual_duration_s": round(flight.duration_s, 1),
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "ticks": flight.ticks,
        "deploys": flight.deploys,
    }


def run_child(strategy: str, targets: int, seed: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--one", str(targets), "--strategy", strategy]
    done = subprocess.run(
        [*argv, "--seed", str(seed)], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        return {"strategy": strategy, "targets": targets, "error": done.stderr.strip()[-600:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="waves", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(fly_one(args.strategy, args.one, args.seed)))
        return 0
    strategy = "waves" if "error" not in run_child("waves", 50, args.seed) else "canary"
    runs = [run_child(strategy, int(n), args.seed) for n in args.sizes.split(",")]
    for run in runs:
        print(_line(run))
    gated = [r for r in runs if r["targets"] == GATED_SIZE]
    ok = all(_within(r) for r in gated) and all("error" not in r for r in runs)
    result = {"strategy": strategy, "limits": _limits(), "runs": runs, "ok": ok}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


def _within(run: dict[str, Any]) -> bool:
    return bool(
        run.get("wall_s", 1e9) <= WALL_LIMIT_S and run.get("peak_rss_mb", 1e9) <= RSS_LIMIT_MB
    )


def _limits() -> dict[str, float]:
    return {"targets": GATED_SIZE, "wall_s": WALL_LIMIT_S, "peak_rss_mb": RSS_LIMIT_MB}


def _line(run: dict[str, Any]) -> str:
    if "error" in run:
        return f"{run['strategy']} over {run['targets']:,} targets FAILED: {run['error']}"
    return (
        f"{run['strategy']} over {run['targets']:,} targets: {run['phase']} after"
        f" {run['virtual_duration_s']:,.0f}s virtual, {run['wall_s']:.2f}s wall,"
        f" peak RSS {run['peak_rss_mb']:.0f} MB, {run['ticks']} ticks, {run['deploys']:,} deploys"
    )


if __name__ == "__main__":
    sys.exit(main())

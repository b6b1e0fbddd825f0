"""API latency while a rollout runs: `GET /api/v1/rollouts` and `/health/readiness` at a
steady 200 requests/s in total against `safeship serve` (started by `safeship up`, SQLite),
with the control plane running a canary of the demo service under load.

Requests are sent open-loop on a fixed schedule (half to each endpoint) and each latency is
taken from its scheduled send time, so a stall delays the requests behind it too.

    .venv/bin/python bench/api.py [--rate 200] [--seconds 20]

Prints p50/p99/max per endpoint and writes bench/results/api.json (target: p99 < 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from control_plane_kit import Api, Machine, percentile, wait

RESULTS = Path(__file__).parent / "results" / "api.json"
PATHS = ("/api/v1/rollouts", "/health/readiness")


async def drive(base: str, token: str, *, rate: float, seconds: float) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {p: [] for p in PATHS}
    slowest: list[tuple[float, float, str]] = []  # (latency, seconds into the run, path)
    errors: dict[str, int] = dict.fromkeys(PATHS, 0)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as http:

        async def one(path: str, due: float) -> None:
            try:
                answer = await http.get(path, timeout=5)
                ok = answer.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies[path].append(time.monotonic() - due)
            slowest.append((time.monotonic() - due, due - start, path))
            errors[path] += 0 if ok else 1

        start = time.monotonic()
        tasks = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(PATHS[i % 2], due)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    slowest.sort(reverse=True)
    return {
        "slowest": [
            {"ms": round(lat * 1000, 1), "at_s": round(at, 2), "path": p}
            for lat, at, p in slowest[:10]
        ],
        **{
            path: {
                "requests": len(values),
                "errors": errors[path],
                "p50_ms": round(percentile(values, 50) * 1000, 1),
                "p99_ms": round(percentile(values, 99) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
                "rate": round(len(values) / elapsed, 1),
            }
            for path, values in latencies.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    machine = Machine(pause="600s")
    try:
        machine.make_token()
        machine.must("up", "-c", "safeship.yaml")
        wait(lambda: _answers(machine.url), within=60, what="v1 on the router")
        load = machine.wrk(100, connections=2)  # light traffic through the router
        api = Api(f"http://127.0.0.1:{machine.api_port}", machine.token)
        rollout = api.deploy("v2")
        wait(
            lambda: api.rollout(rollout["id"])["step"] >= 2,
            within=60,
            what="the rollout to reach its pause",
        )
        figures = asyncio.run(drive(api.base, machine.token, rate=args.rate, seconds=args.seconds))
        phase = api.rollout(rollout["id"])["phase"]
        api.close()
        machine.wrk_report(load)
    finally:
        machine.close()
    result = {"rate": args.rate, "seconds": args.seconds, "rollout_phase": phase, **figures}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    for path in PATHS:
        f = figures[path]
        print(
            f"{path}: {f['requests']} requests at {f['rate']}/s, p50 {f['p50_ms']} ms,"
            f" p99 {f['p99_ms']} ms, max {f['max_ms']} ms, errors {f['errors']}"
        )
    print(f"slowest: {figures['slowest'][:5]}")
    print(f"while rollout {rollout['id']} was {phase}; written {RESULTS}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).is_success
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()

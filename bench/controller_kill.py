"""SIGKILL the control plane at random moments of many rollouts under steady load.

`safeship up` runs the agent and `safeship serve` (SQLite) with one demo service; wrk (or
the load generator) sends a steady rate through the router the whole time. Each round
deploys a version through the API (every third one bad: 30 % errors, rolled back by
analysis), kills serve with SIGKILL at a random moment of the rollout, starts it again
(`safeship up`) and waits for the rollout to end. Reported: failed requests caused by the
kills (socket errors and the router's own 5xx, counted by bench/wrk_count.lua, or the load
generator's "mechanics" errors; the bad version's own 5xx, which carry X-Version, are
counted apart), the time from the kill until the restarted serve answers (`safeship up`:
CLI and serve start-up) and from then until the rollout it resumed finished, whether each
rollout ended as expected, and the audit chain.

    .venv/bin/python bench/controller_kill.py [--rollouts 30] [--rate 500] [--load wrk]

Prints the figures and writes bench/results/controller_kill.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import time
from pathlib import Path
from statistics import median
from typing import Any

import httpx
from control_plane_kit import Api, Machine, percentile, wait

from safeship.store.repository import Store

RESULTS = Path(__file__).parent / "results" / "controller_kill.json"


def one_round(machine: Machine, api: Api, version: str, rng: random.Random) -> dict[str, Any]:
    started = api.deploy(version)
    time.sleep(rng.uniform(0.2, 3.0))
    os.kill(machine.serve_pid(), signal.SIGKILL)
    killed_at = time.monotonic()
    phase_at_kill = stored_phase(machine, started["id"])
    machine.must("up", "-c", "safeship.yaml")
    live_s = time.monotonic() - killed_at
    finished = wait(
        lambda: api.rollout(started["id"]).get("finished_at") is not None,
        within=120,
        what=f"rollout {started['id']} to finish",
        every=0.1,
    )
    final = api.rollout(started["id"])
    return {
        "rollout": started["id"],
        "version": version,
        "phase_at_kill": phase_at_kill,
        "phase": final["phase"],
        "expected": final["phase"] == ("RolledBack" if version == "bad" else "Promoted"),
        "serve_back_s": round(live_s, 2),
        "converged_after_restart_s": round(finished, 2),
    }


def stored_phase(machine: Machine, rollout_id: str) -> str:
    """The phase the killed serve left in the database."""
    with Store.open(machine.env["SAFESHIP_DB"]) as store:
        record = store.get_rollout(rollout_id)
    return record.phase if record else "?"


def versions(count: int) -> list[str]:
    """v2, bad, v4, v5, bad, ...: every third the bad build (30 % errors, see the kit)."""
    return ["bad" if i % 3 == 1 else f"v{i + 2}" for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rollouts", type=int, default=30)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--load",
        choices=["wrk", "generator"],
        default="wrk",
        help="wrk (C, holds 500/s here) or safeship.demo.load (Python, slower on a busy machine)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    machine = Machine()
    rounds: list[dict[str, Any]] = []
    try:
        machine.make_token()
        machine.must("up", "-c", "safeship.yaml")
        wait(lambda: machine_answers(machine), within=60, what="v1 on the router")
        api = Api(f"http://127.0.0.1:{machine.api_port}", machine.token)
        load = machine.wrk(args.rate) if args.load == "wrk" else machine.load(args.rate, 3600)
        time.sleep(2)
        for version in versions(args.rollouts):
            rounds.append(one_round(machine, api, version, rng))
            print(json.dumps(rounds[-1]), flush=True)
        report = machine.wrk_report(load) if args.load == "wrk" else machine.load_report(load)
        audit = machine.cli("audit", "verify")
        api.close()
    finally:
        machine.close()
    summarize(rounds, report, audit.returncode == 0, args)


def machine_answers(machine: Machine) -> bool:
    try:
        return httpx.get(machine.url, timeout=1).is_success
    except httpx.HTTPError:
        return False


def summarize(
    rounds: list[dict[str, Any]], load: dict[str, Any], audit_ok: bool, args: argparse.Namespace
) -> None:
    back = [r["serve_back_s"] for r in rounds]
    converged = [r["converged_after_restart_s"] for r in rounds]
    figures = {
        "rollouts": len(rounds),
        "kills": len(rounds),
        "as_expected": sum(r["expected"] for r in rounds),
        "requests_sent": load.get("sent", 0),
        "achieved_rate": load.get("achieved_rate"),
        "failed_requests_caused_by_kills": load.get("mechanics_errors", 0),
        "failure_samples": load.get("mechanics_error_samples", [])[:5],
        "bad_version_errors": load.get("version_errors", {}),
        "serve_back_s": {"median": median(back), "max": max(back)} if back else {},
        "converged_after_restart_s": {
            "median": median(converged),
            "p90": percentile(converged, 90),
            "max": max(converged),
        }
        if converged
        else {},
        "audit_verified": audit_ok,
        "rate": args.rate,
        "rounds": rounds,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2))
    print(
        f"rollouts {figures['rollouts']} (as expected {figures['as_expected']}), one SIGKILL each"
    )
    print(
        f"requests {figures['requests_sent']} at {figures['achieved_rate']}/s; failed by the"
        f" kills {figures['failed_requests_caused_by_kills']}; bad versions' own errors"
        f" {sum(figures['bad_version_errors'].values())}"
    )
    print(f"serve answering again after the kill: {figures['serve_back_s']}")
    print(f"rollout finished after the restart: {figures['converged_after_restart_s']}")
    print(f"audit verified: {audit_ok}; written {RESULTS}")


if __name__ == "__main__":
    main()

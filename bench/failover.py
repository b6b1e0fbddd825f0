"""Two control planes on one PostgreSQL database: SIGKILL the leader mid-rollout, many times.

Two `safeship serve` (one agent, one demo service, a fresh database on 127.0.0.1:5432) under
steady load through the router. Each round deploys a version through the leader's API, kills
the leader with SIGKILL at a random moment of the rollout, and times the takeover (until the
other one reports `safeship_leader 1`) and the resumed rollout's end; the killed one is
started again and follows. At the end: failed requests (the load generator's "mechanics"
errors), double actions (audit entries written under an older lease term after a newer
term's: a deposed leader acting), every rollout's result and the audit chain.

    .venv/bin/python bench/failover.py [--rounds 20] [--rate 200]

Prints the figures and writes bench/results/failover.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
import uuid
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import psycopg
from control_plane_kit import Api, Machine, terms_in_order, wait

from safeship.store.repository import Store
from safeship.testing import free_port

RESULTS = Path(__file__).parent / "results" / "failover.json"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


class Pair:
    """Two serves on the machine; `leader()` is the index of the one that leads."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.listens = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
        self.procs = [machine.serve(listen) for listen in self.listens]
        self.apis = [Api(f"http://{listen}", machine.token) for listen in self.listens]

    def leader(self, *, within: float = 30.0) -> int:
        found: list[int] = []

        def one() -> bool:
            found[:] = [i for i, api in enumerate(self.apis) if api.leads()]
            return len(found) == 1

        wait(one, within=within, what="one leader", every=0.02)
        return found[0]

    def kill(self, index: int) -> None:
        self.procs[index].kill()
        self.procs[index].wait()

    def restart(self, index: int) -> None:
        self.procs[index] = self.machine.serve(self.listens[index])
        wait(self.apis[index].live, within=60, what="the restarted serve")

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)
        for api in self.apis:
            api.close()


def one_round(pair: Pair, version: str, rng: random.Random) -> dict[str, Any]:
    leader = pair.leader()
    started = pair.apis[leader].deploy(version)
    time.sleep(rng.uniform(0.3, 3.0))
    pair.kill(leader)
    killed = time.monotonic()
    other = 1 - leader
    takeover = wait(lambda: pair.apis[other].leads(), within=60, what="takeover", every=0.02)
    pair.restart(leader)
    wait(
        lambda: pair.apis[other].rollout(started["id"]).get("finished_at") is not None,
        within=120,
        what=f"rollout {started['id']} to finish",
        every=0.1,
    )
    final = pair.apis[other].rollout(started["id"])
    return {
        "rollout": started["id"],
        "version": version,
        "takeover_s": round(takeover, 2),
        "finished_after_kill_s": round(time.monotonic() - killed, 2),
        "phase": final["phase"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    name = f"safeship_bench_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    machine = Machine(db=url)
    rounds: list[dict[str, Any]] = []
    pair: Pair | None = None
    try:
        machine.make_token()
        pair = Pair(machine)
        pair.leader()
        wait(lambda: _answers(machine.url), within=60, what="v1 on the router")
        load = machine.load(args.rate, 3600)
        time.sleep(2)
        for i in range(args.rounds):
            rounds.append(one_round(pair, f"v{i + 2}", random.Random(args.seed + i)))
            print(json.dumps(rounds[-1]), flush=True)
        report = machine.load_report(load)
        with Store.open(url) as store:
            entries = [dataclasses.asdict(e) for e in store.audit_entries()]
        verified = machine.cli("audit", "verify").returncode == 0
    finally:
        if pair is not None:
            pair.close()
        machine.close()
        admin(f'DROP DATABASE "{name}" WITH (FORCE)')
    summarize(rounds, report, entries, verified, args)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).is_success
    except httpx.HTTPError:
        return False


def summarize(
    rounds: list[dict[str, Any]],
    load: dict[str, Any],
    entries: list[dict[str, Any]],
    verified: bool,
    args: argparse.Namespace,
) -> None:
    takeovers = [r["takeover_s"] for r in rounds]
    by_rollout: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_rollout.setdefault(str(entry["rollout_id"]), []).append(entry)
    figures = {
        "rounds": len(rounds),
        "takeover_s": {"median": median(takeovers), "max": max(takeovers)} if takeovers else {},
        "double_actions": sum(terms_in_order(e) for e in by_rollout.values()),
        "audit_entries_with_a_term": sum("term" in (e["details"] or {}) for e in entries),
        "terms": sorted({(e["details"] or {}).get("term", 0) for e in entries} - {0}),
        "promoted": sum(r["phase"] == "Promoted" for r in rounds),
        "requests_sent": load.get("sent", 0),
        "achieved_rate": load.get("achieved_rate"),
        "failed_requests": load.get("mechanics_errors", 0)
        + sum(load.get("version_errors", {}).values()),
        "failure_samples": load.get("mechanics_error_samples", [])[:5],
        "audit_verified": verified,
        "rate": args.rate,
        "rounds_detail": rounds,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2))
    print(f"rounds {figures['rounds']}: leader SIGKILLed mid-rollout each time")
    print(f"takeover: {figures['takeover_s']} s (lease TTL 10 s)")
    print(
        f"promoted {figures['promoted']}/{len(rounds)}; double actions {figures['double_actions']}"
    )
    print(
        f"requests {figures['requests_sent']} at {figures['achieved_rate']}/s;"
        f" failed {figures['failed_requests']}"
    )
    print(f"audit verified: {verified}; written {RESULTS}")


if __name__ == "__main__":
    main()

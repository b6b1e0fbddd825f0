"""Alerting bench (issue 10): one evaluation round of 1,000 alerting rules over 100,000
series, through the real rule manager (alerting/manager.py: groups, the pure evaluator,
ALERTS series written back, alert state saved to SQLite as `safeship serve` does) and the
embedded store. The series and expressions are bench/promql.py's (1,000 instances x 100
metrics, 1 h of 15 s samples; eight alert shapes).

    .venv/bin/python bench/alerting.py [--instances 1000] [--metrics 100] [--rules 1000]

Between rounds every series gets one more sample, as a scrape would add, so no round
reads another's caches. Prints the figures and writes bench/results/alerting.json.
Target: <= 1 s per round. (The webhook latency and routing throughput figures of issue 10
come with the routing and delivery code.)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from promql import STEP_MS, T0_MS, build, expressions  # bench/ is sys.path[0] as a script

from safeship.alerting.evaluator import State
from safeship.alerting.manager import AlertMemory, LoadedGroup, RuleManager
from safeship.alerting.rules import Rule, RuleGroup
from safeship.core.clock import VirtualClock
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore


def rule_groups(exprs: list[str], per_group: int) -> list[LoadedGroup]:
    rules = [
        Rule(
            alert=f"Bench{k}",
            expr=expr,
            for_=60.0,
            labels={"severity": "warning"},
            annotations={"summary": "{{ $labels.job }} at {{ $value | humanize }}"},
        )
        for k, expr in enumerate(exprs)
    ]
    chunks = [rules[i : i + per_group] for i in range(0, len(rules), per_group)]
    return [
        LoadedGroup(RuleGroup(name=f"bench{n}", interval=15.0, rules=chunk), "bench.yml")
        for n, chunk in enumerate(chunks)
    ]


class Scrapes:
    """The next samples of bench/promql.py's series, continuing `build`'s trajectories
    (same seed: counters keep their slope, gauges stay uniform in 0..100)."""

    def __init__(self, instances: int, metrics: int) -> None:
        self.kinds = np.asarray([m % 4 for m in range(metrics) for _ in range(instances)])
        self.rng = np.random.default_rng(42)
        self.slope = self.rng.uniform(0.5, 20.0, self.kinds.size)  # build's first draw
        self.refs = np.arange(self.kinds.size, dtype=np.int64)  # build registers them first

    def append(self, store: SeriesStore, t_ms: int) -> None:
        step = (t_ms - T0_MS) // STEP_MS
        gauges = self.rng.uniform(0, 100, self.kinds.size)
        store.append_refs(self.refs, t_ms, np.where(self.kinds == 3, gauges, self.slope * step))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--per-group", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    store, figures = build(args.instances, args.metrics)
    series = len(store)
    groups = rule_groups(expressions(args.metrics, args.rules), args.per_group)
    t_ms = T0_MS + 60 * 60_000
    scrapes = Scrapes(args.instances, args.metrics)
    with tempfile.TemporaryDirectory() as folder:
        memory = AlertMemory.open(f"sqlite:///{folder}/state.db")
        clock = VirtualClock(t_ms / 1000)
        manager = RuleManager(groups, engine=Engine(store), store=store, clock=clock, memory=memory)
        rounds, cpu = [], []
        for _ in range(args.rounds):
            scrapes.append(store, t_ms)
            store.view()  # the merge a scrape round pays for, not the rules
            started, cpu_started = time.perf_counter(), time.process_time()
            manager.evaluate_due()
            store.view()  # and the merge of what the rules wrote (ALERTS, recordings)
            rounds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            t_ms += 15_000
            clock.advance(15.0)
        alerts = manager.alerts()
        manager.close()
    figures = {
        "series": float(series),
        "rules": float(args.rules),
        "groups": float(len(groups)),
        "load_avg_1m": os.getloadavg()[0],  # the machine is shared: say how busy it was
        "round_first_s": rounds[0],
        "round_best_s": min(rounds),
        "round_median_s": float(np.median(rounds)),
        "round_cpu_median_s": float(np.median(cpu)),  # CPU of this process: less load-bound
        "alerts_pending": float(sum(a.state is State.PENDING for a in alerts)),
        "alerts_firing": float(sum(a.state is State.FIRING for a in alerts)),
    }
    for key, value in figures.items():
        print(f"{key:>22}: {value:,.3f}")
    out = Path(__file__).parent / "results" / "alerting.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Routing bench: 10,000 alerts through Alertmanager-style routing, grouping, inhibition and
dedup (alerting/grouping.py), as the dispatcher runs them after an evaluation.

    .venv/bin/python bench/routing.py [--alerts 10000] [--rounds 5]

A tree of 13 routes (matchers, regexes, continue), two inhibition rules and a silence;
alerts spread over 100 alert names and 20 services, grouped by (alertname, service).
Prints: the first round (every alert new, every group flushed: notifications/s), then a
steady round (the same alerts re-sent after an evaluation, nothing new to notify), and
writes bench/results/routing.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.grouping import AlertRecord, DispatchState, Policy, step
from safeship.alerting.silences import Silence
from safeship.core.labels import make_labels
from safeship.core.matchers import parse_matcher

NOW_MS = 1_700_000_000_000
TEAMS = ["shop", "cart", "search", "auth"]


def config() -> AlertmanagerConfig:
    routes = [
        {"matchers": [f'team="{t}"', 'severity=~"page|critical"'], "receiver": f"{t}-pager",
         "continue": True}
        for t in TEAMS
    ] + [
        {"matchers": [f'team="{t}"'], "receiver": f"{t}-chat",
         "routes": [{"match_re": {"service": ".*-db"}, "receiver": "dba"}]}
        for t in TEAMS
    ]  # fmt: skip
    receivers = [{"name": "default"}, {"name": "dba"}]
    receivers += [{"name": f"{t}-{k}"} for t in TEAMS for k in ("pager", "chat")]
    document = {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "service"],
            "group_wait": "0s",
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": [
            {"source_matchers": ['severity="critical"'],
             "target_matchers": ['severity="warning"'], "equal": ["service"]},
            {"source_matchers": ["alertname=ServiceDown"],
             "target_matchers": ['alertname!="ServiceDown"'], "equal": ["service"]},
        ],
    }  # fmt: skip
    return AlertmanagerConfig.model_validate(yaml.safe_load(yaml.safe_dump(document)))


def alerts(count: int) -> list[AlertRecord]:
    made = []
    for i in range(count):
        service = f"svc{i % 20}" + ("-db" if i % 20 < 3 else "")
        labels = {
            "alertname": f"Alert{i % 100}",
            "service": service,
            "team": TEAMS[i % 4],
            "severity": ("page", "warning", "critical", "info")[(i // 7) % 4],
            "instance": f"10.0.{i // 250}.{i % 250}:9100",
        }
        made.append(AlertRecord(make_labels(labels), (), NOW_MS - 60_000, NOW_MS + 3_600_000))
    return made


def measure(count: int, rounds: int) -> dict[str, float]:
    """The figures of `rounds` runs over `count` alerts (the best of them); bench/alerting.py
    reports them too."""
    batch = alerts(count)
    silence = Silence("s", (parse_matcher('alertname="Alert7"'),), 0, 4e9, "bench", "bench", 0)
    firsts, steadies, notified = [], [], 0
    for _ in range(rounds):
        policy = Policy.of(config())  # cold: no routing decision remembered yet
        started = time.perf_counter()
        first = step(policy, DispatchState(), batch, silences=[silence], now_ms=NOW_MS)
        firsts.append(time.perf_counter() - started)
        notified = len(first.notifications)
        started = time.perf_counter()
        again = step(policy, first.state, batch, silences=[silence], now_ms=NOW_MS + 300_000)
        steadies.append(time.perf_counter() - started)
        assert not again.notifications  # nothing changed: the log says the receivers know
    first_s, steady_s = min(firsts), min(steadies)
    return {
        "alerts": count,
        "groups": len(first.state.groups),
        "notifications": notified,
        "first_round_s": round(first_s, 4),
        "notifications_per_s": round(notified / first_s),
        "alerts_per_s": round(count / first_s),
        "steady_round_s": round(steady_s, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.alerts, args.rounds)
    first_s, notified = result["first_round_s"], result["notifications"]
    print(f"{args.alerts} alerts -> {result['groups']} groups, {notified} notifications")
    print(
        f"first round (all new, all flushed): {first_s * 1000:.0f} ms = "
        f"{result['notifications_per_s']:,} notifications/s, {result['alerts_per_s']:,} alerts/s"
    )
    print(f"steady round (re-sent, nothing to notify): {result['steady_round_s'] * 1000:.0f} ms")
    out = Path(__file__).parent / "results" / "routing.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

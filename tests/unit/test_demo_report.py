"""The demo's per-rollout figures come from the load generator's per-second counts."""

from __future__ import annotations

from safeship.demo.scenario import DemoReport, RolloutOutcome


def outcome(version: str, start: float, end: float) -> RolloutOutcome:
    return RolloutOutcome(version, "v1", "Promoted", end - start, "", None, start, end)


def test_each_second_of_load_counts_for_the_rollout_it_fell_in() -> None:
    load = {
        "started_at": 100.0,
        "per_second": [
            {"second": s, "ok": 10, "version_error": 1 if s >= 5 else 0, "mechanics_error": 0}
            for s in range(10)
        ],
        "mechanics_errors": 0,
    }
    first, second = outcome("v2", 100.0, 105.0), outcome("v3", 105.0, 110.0)
    for o in (first, second):
        o.count(load)
    assert (first.requests_sent, first.failures_bad_version) == (50, 0)
    assert (second.requests_sent, second.failures_bad_version) == (55, 5)
    report = DemoReport(rollouts=[first, second], load=load)
    assert report.mechanics_failures == 0

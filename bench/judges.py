"""Bench: how fast each judge fails a bad canary, and how often it fails a good one.

Simulated traffic (Poisson arrivals, default 50 req/s split 50/50 canary/baseline; errors
Bernoulli, latency lognormal). Every judge is evaluated every second, as the planner would:
window judges on the last 30 s, cumulative judges on everything since the analysis started.

Scenarios: `errors` (canary 10% errors), `latency` (canary +50% latency), and `aa` (identical
versions, fixed length): median seconds and canary samples to FAIL, and the false-rollback
rate over the A/A runs. Prints a table, writes bench/results/judges.json.

    .venv/bin/python bench/judges.py [--runs 200] [--seconds 300] [--rate 50] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safeship.analysis.builtin import judge_builtin
from safeship.analysis.mannwhitney import judge_mann_whitney
from safeship.analysis.measurement import Measurement
from safeship.analysis.proportions import judge_proportions
from safeship.analysis.relative import judge_relative
from safeship.analysis.runs import assess_run
from safeship.analysis.samples import Counts, Histogram
from safeship.analysis.sequential import judge_sequential_errors, judge_sequential_latency
from safeship.analysis.threshold import judge_threshold
from safeship.analysis.verdict import Outcome, Verdict
from safeship.config.models import MetricSpec
from safeship.core.types import DURATION_BUCKETS

RESULTS = Path(__file__).parent / "results" / "judges.json"
WINDOW = 30  # seconds of data the window judges look at
MEDIAN_LATENCY, LATENCY_SIGMA = 0.05, 0.5  # lognormal: p99 is about 0.16 s
P99_LIMIT = 0.2  # built-in latency threshold, 1.25x the healthy p99
ALPHA = 0.01


@dataclass(frozen=True)
class Traffic:
    """One simulated run: per-second arrays for canary (index 0) and baseline (index 1)."""

    requests: np.ndarray  # [2, T] requests per second
    errors: np.ndarray  # [2, T]
    latencies: tuple[list[np.ndarray], list[np.ndarray]]  # per side, per second
    histograms: np.ndarray  # [2, T, buckets] cumulative over time and bound


@dataclass(frozen=True)
class Params:
    seconds: int
    rate: float
    share: float
    base_error: float
    bad_error: float
    slowdown: float


def simulate(rng: np.random.Generator, p: Params, *, error: float, slowdown: float) -> Traffic:
    """Poisson arrivals per second; the canary gets `error` and `slowdown`."""
    lam = np.array([[p.rate * p.share], [p.rate * (1 - p.share)]])
    requests = rng.poisson(lam, (2, p.seconds))
    errors = rng.binomial(requests, np.array([[error], [p.base_error]]))
    sides: list[list[np.ndarray]] = []
    histograms = np.zeros((2, p.seconds, len(DURATION_BUCKETS)), dtype=np.int64)
    for side, scale in enumerate((slowdown, 1.0)):
        flat = rng.lognormal(math.log(MEDIAN_LATENCY * scale), LATENCY_SIGMA, requests[side].sum())
        per_second = np.split(flat, np.cumsum(requests[side])[:-1])
        sides.append(per_second)
        bucket = np.searchsorted(DURATION_BUCKETS, flat, side="left")
        second = np.repeat(np.arange(p.seconds), requests[side])
        counts = np.zeros((p.seconds, len(DURATION_BUCKETS) + 1), dtype=np.int64)
        np.add.at(counts, (second, bucket), 1)
        histograms[side] = counts.cumsum(axis=0).cumsum(axis=1)[:, :-1]
    return Traffic(requests, errors, (sides[0], sides[1]), histograms)


class Tick:
    """What the planner observes at second `t` of one run (cumulative and windowed)."""

    def __init__(self, traffic: Traffic, t: int) -> None:
        self.traffic, self.t, self.start = traffic, t, max(0, t + 1 - WINDOW)

    def counts(self, side: int, *, window: bool) -> Counts:
        lo = self.start if window else 0
        r = self.traffic.requests[side, lo : self.t + 1].sum()
        return Counts(int(r), int(self.traffic.errors[side, lo : self.t + 1].sum()))

    def samples(self, side: int) -> np.ndarray:
        return np.concatenate(self.traffic.latencies[side][self.start : self.t + 1])

    def histogram(self, side: int) -> Histogram:
        cumulative = self.traffic.histograms[side, self.t]
        total = int(self.traffic.requests[side, : self.t + 1].sum())
        return Histogram(DURATION_BUCKETS, tuple(cumulative.tolist()), total)


SUCCESS_SPEC = MetricSpec(name="success", builtin="request-success-rate", min=0.99, min_samples=50)
P99_SPEC = MetricSpec(
    name="p99", builtin="request-duration-p99", max=P99_LIMIT * 1000, min_samples=50
)


def _success_rate(tick: Tick) -> Verdict:
    counts = tick.counts(0, window=True)
    value = 1 - counts.events / counts.trials if counts.trials else None
    return judge_builtin(SUCCESS_SPEC, Measurement(value, counts.trials, WINDOW))


def _p99(samples: np.ndarray) -> float | None:
    return float(np.quantile(samples, 0.99)) if samples.size >= 50 else None


def _p99_builtin(tick: Tick) -> Verdict:
    samples = tick.samples(0)
    p99 = float(np.quantile(samples, 0.99)) * 1000 if samples.size else None
    return judge_builtin(P99_SPEC, Measurement(p99, samples.size, WINDOW))


class ArgoRun:
    """A custom-metric analysis run: one measurement per second, judged by `judge_threshold`
    with `fail_if`, and the run's outcome by `assess_run` (fails after 3 failed measurements)."""

    def __init__(self, measure: Callable[[Tick], list[float]], fail_if: str) -> None:
        self.measure, self.fail_if = measure, fail_if
        self.outcomes: list[Outcome] = []

    def __call__(self, tick: Tick) -> Verdict:
        verdict = judge_threshold("custom", self.measure(tick), fail_if=self.fail_if)
        self.outcomes.append(verdict.outcome)
        # Inconclusive measurements (too little traffic yet) are tolerated: count them freely.
        run = assess_run(self.outcomes, count=0, failure_limit=2, inconclusive_limit=10**9)
        return Verdict(run or Outcome.INCONCLUSIVE, "custom", verdict.reason)


def _error_ratio(tick: Tick) -> list[float]:
    ratio = _window_ratio(tick, 0)
    return [] if ratio is None else [ratio]


def _p99_seconds(tick: Tick) -> list[float]:
    p99 = _p99(tick.samples(0))
    return [] if p99 is None else [p99]


def _window_ratio(tick: Tick, side: int) -> float | None:
    counts = tick.counts(side, window=True)
    return counts.ratio if counts.trials >= 50 else None  # same minimum as the built-in


def _relative_errors(tick: Tick) -> Verdict:
    c, b = _window_ratio(tick, 0), _window_ratio(tick, 1)
    return judge_relative(
        "error_rate", c, b, direction="increase", max_regression_pct=100, abs_tolerance=0.01
    )


def _relative_p99(tick: Tick) -> Verdict:
    c, b = _p99(tick.samples(0)), _p99(tick.samples(1))
    return judge_relative("p99", c, b, direction="increase", max_regression_pct=20)


def _mann_whitney(tick: Tick) -> Verdict:
    return judge_mann_whitney(
        "latency", tick.samples(0), tick.samples(1), allowed_increase_pct=10, min_samples=50
    )


def _proportions(tick: Tick) -> Verdict:
    c, b = tick.counts(0, window=False), tick.counts(1, window=False)
    return judge_proportions("errors", c, b, allowed_abs_increase=0.005, min_samples=100)


def _sequential_errors(tick: Tick) -> Verdict:
    c, b = tick.counts(0, window=False), tick.counts(1, window=False)
    return judge_sequential_errors("errors", c, b, alpha=ALPHA)


def _sequential_latency(tick: Tick) -> Verdict:
    return judge_sequential_latency("latency", tick.histogram(0), tick.histogram(1), alpha=ALPHA)


Judge = Callable[[Tick], Verdict]
NewJudge = Callable[[], Judge]  # a fresh judge per run: the Argo-style run keeps state
ERROR_JUDGES: dict[str, NewJudge] = {
    "builtin success>=99% (30s)": lambda: _success_rate,
    "threshold err>2% x3 (30s)": lambda: ArgoRun(_error_ratio, "result > 0.02"),
    "relative error rate (30s)": lambda: _relative_errors,
    "proportions z/fisher": lambda: _proportions,
    "sequential errors": lambda: _sequential_errors,
}
LATENCY_JUDGES: dict[str, NewJudge] = {
    f"builtin p99<={P99_LIMIT}s (30s)": lambda: _p99_builtin,
    "threshold p99>0.2s x3 (30s)": lambda: ArgoRun(_p99_seconds, f"result > {P99_LIMIT}"),
    "relative p99 (30s)": lambda: _relative_p99,
    "mann-whitney (30s)": lambda: _mann_whitney,
    "sequential latency": lambda: _sequential_latency,
}


def first_failure(traffic: Traffic, judge: Judge, spent: list[float]) -> int | None:
    """The second at which `judge` first fails this run, or None."""
    for t in range(traffic.requests.shape[1]):
        started = time.perf_counter()
        outcome = judge(Tick(traffic, t)).outcome
        spent.append(time.perf_counter() - started)
        if outcome is Outcome.FAIL:
            return t
    return None


def run_scenario(
    judges: dict[str, NewJudge], runs: list[Traffic]
) -> dict[str, dict[str, float | int | None]]:
    rows = {}
    for name, new_judge in judges.items():
        spent: list[float] = []
        failures = [first_failure(traffic, new_judge(), spent) for traffic in runs]
        rows[name] = summarise(failures, runs, spent)
    return rows


def summarise(
    failures: list[int | None], runs: list[Traffic], spent: list[float]
) -> dict[str, float | int | None]:
    hits = [(t, traffic) for t, traffic in zip(failures, runs, strict=True) if t is not None]
    seconds = [t + 1 for t, _ in hits]
    samples = [int(traffic.requests[0, : t + 1].sum()) for t, traffic in hits]
    return {
        "runs": len(runs),
        "failed_runs": len(hits),
        "fail_rate": len(hits) / len(runs),
        "fail_rate_upper95": clopper_pearson_upper(len(hits), len(runs)),
        "median_seconds": statistics.median(seconds) if seconds else None,
        "median_canary_samples": statistics.median(samples) if samples else None,
        "p90_seconds": float(np.quantile(seconds, 0.9)) if seconds else None,
        "us_per_call": 1e6 * statistics.fmean(spent) if spent else None,
    }


def clopper_pearson_upper(hits: int, runs: int) -> float:
    """One-sided 95% upper bound of a rate from `hits` of `runs`."""
    from scipy import stats

    return 1.0 if hits == runs else float(stats.beta.ppf(0.95, hits + 1, runs - hits))


def main() -> None:
    args = parse_args()
    p = Params(args.seconds, args.rate, args.canary_share, args.base_error, 0.10, 1.5)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    scenarios = {
        "errors": (ERROR_JUDGES, dict(error=p.bad_error, slowdown=1.0)),
        "latency": (LATENCY_JUDGES, dict(error=p.base_error, slowdown=p.slowdown)),
        "aa": ({**ERROR_JUDGES, **LATENCY_JUDGES}, dict(error=p.base_error, slowdown=1.0)),
    }
    results = {}
    for label, (judges, canary) in scenarios.items():
        runs = [simulate(rng, p, **canary) for _ in range(args.runs)]
        results[label] = run_scenario(judges, runs)
    elapsed = time.perf_counter() - started
    report(results, p, args, elapsed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=300, help="length of every run")
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s, both versions")
    parser.add_argument("--canary-share", type=float, default=0.5)
    parser.add_argument("--base-error", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="40 runs of 120 s, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds = 40, 120
    return args


Rows = dict[str, dict[str, dict[str, float | int | None]]]


def report(results: Rows, p: Params, args: argparse.Namespace, elapsed: float) -> None:
    print_table(results, p, args)
    met = target_met(results)
    print(f"target (both sequential judges: bad canary failed in <= 10 s, <= 1% false "
          f"rollbacks): {'MET' if met else 'NOT MET'}; bench took {elapsed:.0f} s")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"params": vars(args), "elapsed_s": elapsed, "target_met": met, "results": results}
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")


def print_table(results: Rows, p: Params, args: argparse.Namespace) -> None:
    print(f"{args.runs} runs x {p.seconds} s at {p.rate:g} req/s, canary share {p.share:g}, "
          f"base errors {p.base_error:.2%}; judged every second")  # fmt: skip
    print(f"{'judge':30} {'bad canary':>10} {'median s':>9} {'samples':>8} {'A/A false':>10} "
          f"{'(95% ub)':>9} {'us/call':>8}")  # fmt: skip
    for label in ("errors", "latency"):
        for name, row in results[label].items():
            aa = results["aa"][name]
            print(f"{name:30} {label:>10} {_fmt(row['median_seconds']):>9} "
                  f"{_fmt(row['median_canary_samples']):>8} {aa['fail_rate']:>10.1%} "
                  f"{aa['fail_rate_upper95']:>9.1%} {_fmt(aa['us_per_call']):>8}")  # fmt: skip


def target_met(results: Rows) -> bool:
    return all(
        (results[label][name]["median_seconds"] or math.inf) <= 10
        and (results["aa"][name]["fail_rate"] or 0.0) <= 0.01
        for label, name in (("errors", "sequential errors"), ("latency", "sequential latency"))
    )


def _fmt(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


if __name__ == "__main__":
    main()

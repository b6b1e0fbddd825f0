"""Anytime-valid sequential judges: fail a clearly bad canary within seconds, safely, every tick.

The planner calls these every tick with the counts accumulated since the analysis started
(under one traffic split). However often it looks, the chance of failing a canary that is
no worse than allowed stays below `alpha`.

The math. Requests are routed to the canary with probability w (the traffic share). Take any
per-request "bad event": an error, or a latency above a bound. If the canary's event rate
p_c is at most rho times the baseline's p_b, then each bad event independently came from the
canary with probability

    s = w p_c / (w p_c + (1 - w) p_b)  <=  s0 = w rho / (w rho + 1 - w),

whatever the (even time-varying) common rate: an outage that hurts both versions alike does
not count against the canary. After m events of which k were the canary's, the e-value

    E(k, m) = [integral over q in (s0, 1] of q^k (1-q)^(m-k) dq / (1-s0)] / [s0^k (1-s0)^(m-k)]
            = B(k+1, m-k+1) * I_{1-s0}(m-k+1, k+1) / ((1 - s0) s0^k (1-s0)^(m-k))

is a mixture (uniform prior on q > s0) of likelihood ratios, each a nonnegative
supermartingale under any s <= s0; so E is one too and Ville's inequality gives
P(E ever >= 1/alpha) <= alpha. We fail when E >= 1/alpha. E depends on (k, m) only, so
cumulative counters suffice. With w taken from the observed request counts the test is
conditional on them (hypergeometric, which Hoeffding's convex-order bound keeps within the
same e-value bound at each look); bench/judges.py measures the false-rollback rate.

Latency uses the same test on "slower than a histogram bound": a canary request slower than
bound L_j against a baseline request slower than L_i, the largest bound <= L_j / (1 + delta).
If the canary is stochastically at most (1 + delta) times the baseline, P(canary > L_j) <=
P(baseline > L_i), i.e. rho = 1. One e-value per bound, averaged with equal weights (an
average of e-processes is an e-process), so no bound is picked by looking at the data.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from safeship.analysis.samples import Counts, Histogram
from safeship.analysis.verdict import Outcome, Verdict

IntArray = npt.NDArray[np.int64]


def log_e_value(
    canary_events: IntArray | int, all_events: IntArray | int, null_share: float
) -> npt.NDArray[np.float64]:
    """log E(k, m) for the mixture above, elementwise; -inf when the data favour the null."""
    k = np.asarray(canary_events, dtype=np.float64)
    m = np.asarray(all_events, dtype=np.float64)
    from scipy import special  # ~0.2 s to import: only when a judge runs

    tail = special.betainc(m - k + 1, k + 1, 1 - null_share)
    with np.errstate(divide="ignore"):
        log_tail = np.log(tail)
    return np.asarray(
        special.betaln(k + 1, m - k + 1)
        + log_tail
        - np.log1p(-null_share)
        - k * math.log(null_share)
        - (m - k) * math.log1p(-null_share),
        dtype=np.float64,
    )


def judge_sequential_errors(
    name: str,
    canary: Counts,
    baseline: Counts,
    *,
    alpha: float = 0.01,
    allowed_ratio: float = 1.0,
    canary_share: float | None = None,
    min_requests: int = 100,
) -> Verdict:
    """Fail as soon as the canary's error rate is shown to exceed `allowed_ratio` times the
    baseline's; pass once both sides served `min_requests` (the floor) without that; else
    inconclusive.

    `canary_share` is the router's probability of sending a request to the canary (0..1);
    None takes it from the request counts.
    """
    if allowed_ratio <= 0:
        raise ValueError(f"{name}: allowed_ratio must be positive, got {allowed_ratio}")
    share = _share(canary, baseline, canary_share)
    evidence = _base_evidence(alpha=alpha, share=share) | {
        "canary": {"requests": canary.trials, "errors": canary.events},
        "baseline": {"requests": baseline.trials, "errors": baseline.events},
    }
    if share is None:
        why = _too_few((canary.trials, baseline.trials), min_requests)
        return Verdict(Outcome.INCONCLUSIVE, name, why, evidence)
    null_share = share * allowed_ratio / (share * allowed_ratio + 1 - share)
    m = canary.events + baseline.events
    log_e = float(log_e_value(canary.events, m, null_share))
    evidence |= {"allowed_ratio": allowed_ratio, "null_share": null_share, "events": m}
    served = (canary.trials, baseline.trials)
    return _decide(
        name, log_e=log_e, alpha=alpha, served=served, floor=min_requests, evidence=evidence
    )


def judge_sequential_latency(
    name: str,
    canary: Histogram,
    baseline: Histogram,
    *,
    alpha: float = 0.01,
    allowed_increase_pct: float = 0.0,
    canary_share: float | None = None,
    min_requests: int = 100,
) -> Verdict:
    """Fail as soon as canary latency is shown to exceed (1 + allowed_increase_pct/100) times
    the baseline's anywhere in the histogram; pass once both sides served `min_requests`.

    Both histograms must share bounds. The margin is only as fine as the bounds: the pair of
    bounds used is in the evidence (`effective_margins`).
    """
    if canary.bounds != baseline.bounds:
        raise ValueError(f"{name}: canary and baseline histograms have different bounds")
    if allowed_increase_pct < 0:
        raise ValueError(f"{name}: allowed_increase_pct must not be negative")
    share = _share(Counts(canary.count, 0), Counts(baseline.count, 0), canary_share)
    evidence = _base_evidence(alpha=alpha, share=share) | {
        "canary_requests": canary.count,
        "baseline_requests": baseline.count,
    }
    pairs = _bound_pairs(canary.bounds, 1 + allowed_increase_pct / 100)
    if share is None or not pairs:
        served = (canary.count, baseline.count)
        why = _too_few(served, min_requests) if share is None else "no histogram bounds to compare"
        return Verdict(Outcome.INCONCLUSIVE, name, why, evidence)
    k = np.array([canary.slower_than(j) for j, _ in pairs], dtype=np.int64)
    m = k + np.array([baseline.slower_than(i) for _, i in pairs], dtype=np.int64)
    per_bound = log_e_value(k, m, share)
    log_e = _log_mean_exp(per_bound)
    evidence |= {"allowed_increase_pct": allowed_increase_pct}
    evidence |= _bound_evidence(canary.bounds, pairs, slower=(k, m), per_bound=per_bound)
    served = (canary.count, baseline.count)
    return _decide(
        name, log_e=log_e, alpha=alpha, served=served, floor=min_requests, evidence=evidence
    )


def _bound_evidence(
    bounds: tuple[float, ...],
    pairs: list[tuple[int, int]],
    *,
    slower: tuple[IntArray, IntArray],
    per_bound: npt.NDArray[np.float64],
) -> dict[str, object]:
    """Which pair of bounds carries the most evidence, and how coarse the margins are."""
    k, m = slower
    best = int(np.argmax(per_bound))
    return {
        "bound": bounds[pairs[best][0]],
        "baseline_bound": bounds[pairs[best][1]],
        "canary_slower": int(k[best]),
        "baseline_slower": int(m[best] - k[best]),
        "effective_margins": sorted({round(bounds[j] / bounds[i], 3) for j, i in pairs}),
    }


def _bound_pairs(bounds: tuple[float, ...], factor: float) -> list[tuple[int, int]]:
    """(canary bound j, baseline bound i) with bounds[i] the largest <= bounds[j] / factor."""
    pairs = []
    for j, bound in enumerate(bounds):
        i = int(np.searchsorted(bounds, bound / factor, side="right")) - 1
        if i >= 0 and bound > 0:
            pairs.append((j, i))
    return pairs


def _share(canary: Counts, baseline: Counts, configured: float | None) -> float | None:
    if configured is not None:
        if not 0 < configured < 1:
            raise ValueError(f"canary_share must be between 0 and 1, got {configured}")
        return configured
    total = canary.trials + baseline.trials
    if not canary.trials or not baseline.trials:
        return None
    return canary.trials / total


def _base_evidence(*, alpha: float, share: float | None) -> dict[str, object]:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return {"alpha": alpha, "threshold": 1 / alpha, "canary_share": share}


def _decide(
    name: str,
    *,
    log_e: float,
    alpha: float,
    served: tuple[int, int],
    floor: int,
    evidence: dict[str, object],
) -> Verdict:
    """Fail on evidence at any time; pass only once both sides served `floor` requests."""
    threshold = 1 / alpha
    e_value = math.exp(min(log_e, 700.0))  # capped: beyond that it is only "enormous"
    evidence |= {"e_value": e_value, "log_e_value": log_e, "min_requests": floor}
    summary = f"e-value {e_value:.3g} (fail at {threshold:g})"
    if log_e >= math.log(threshold):
        return Verdict(Outcome.FAIL, name, f"canary is worse: {summary}", evidence)
    if min(served) < max(floor, 1):
        reason = f"{_too_few(served, floor)}; {summary}"
        return Verdict(Outcome.INCONCLUSIVE, name, reason, evidence)
    return Verdict(Outcome.PASS, name, f"no evidence of a regression: {summary}", evidence)


def _too_few(served: tuple[int, int], floor: int) -> str:
    canary, baseline = served
    return f"{canary} canary / {baseline} baseline requests, need {max(floor, 1)} each"


def _log_mean_exp(values: npt.NDArray[np.float64]) -> float:
    """log(mean(exp(values))), stable; -inf when every value is (scipy.special's, unimported)."""
    peak = float(np.max(values))
    if math.isinf(peak):
        return peak
    return peak + math.log(float(np.mean(np.exp(values - peak))))

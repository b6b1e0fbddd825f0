"""What every judge returns: pass, fail or inconclusive, and the evidence behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # too little data or no data: never treated as a pass


@dataclass(frozen=True)
class Verdict:
    """A judgement of one metric (or of a whole analysis) with what it was based on."""

    outcome: Outcome
    metric: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def combine(verdicts: list[Verdict], *, name: str = "analysis") -> Verdict:
    """Any failure fails; otherwise any inconclusive is inconclusive; all passes pass."""
    if not verdicts:
        return Verdict(Outcome.INCONCLUSIVE, name, "no metrics were judged")
    for outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE):
        hits = [v for v in verdicts if v.outcome is outcome]
        if hits:
            reason = "; ".join(f"{v.metric}: {v.reason}" for v in hits)
            return Verdict(outcome, name, reason, {v.metric: v.evidence for v in verdicts})
    return Verdict(
        Outcome.PASS, name, "all metrics passed", {v.metric: v.evidence for v in verdicts}
    )

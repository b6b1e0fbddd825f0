"""Inhibition: an alert is not notified while a firing alert of a matching rule's source side
shares the rule's `equal` labels with it.

Semantics of Alertmanager's inhibit/inhibit.go: a target alert (matching `target_matchers`)
is muted by any firing source alert (matching `source_matchers`) whose `equal` labels have
the same values (a label absent on both sides counts as equal). When the target alert
matches the source side too, sources that also match the target side are ignored, so an
alert never inhibits itself (nor its peers of a rule with the same matchers on both sides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from safeship.alerting.am_config import InhibitRuleConfig
from safeship.alerting.matchers import Matcher, matches_all


@dataclass(frozen=True)
class InhibitRule:
    sources: tuple[Matcher, ...]
    targets: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def of(cls, config: InhibitRuleConfig) -> InhibitRule:
        return cls(tuple(config.sources()), tuple(config.targets()), tuple(config.equal))


def inhibited(
    labels: Mapping[str, str],
    *,
    rules: Sequence[InhibitRule],
    firing: Iterable[Mapping[str, str]],
) -> bool:
    """Whether the alert with `labels` is muted by one of `firing` (the firing alerts' labels)."""
    candidates = [r for r in rules if matches_all(r.targets, labels)]
    if not candidates:
        return False
    sources = list(firing)
    return any(_has_source(rule, labels, sources) for rule in candidates)


def _has_source(
    rule: InhibitRule, labels: Mapping[str, str], sources: Sequence[Mapping[str, str]]
) -> bool:
    two_sided = matches_all(rule.sources, labels)
    for source in sources:
        if not matches_all(rule.sources, source):
            continue
        if any(source.get(n, "") != labels.get(n, "") for n in rule.equal):
            continue
        if two_sided and matches_all(rule.targets, source):
            continue
        return True
    return False

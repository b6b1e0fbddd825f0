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
from safeship.core.matchers import Matcher, matches_all


@dataclass(frozen=True)
class InhibitRule:
    sources: tuple[Matcher, ...]
    targets: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def of(cls, config: InhibitRuleConfig) -> InhibitRule:
        return cls(tuple(config.sources()), tuple(config.targets()), tuple(config.equal))


class Inhibitor:
    """The firing alerts of one moment, indexed per rule by their `equal` label values, so
    each target costs one lookup per rule rather than a scan of every firing alert."""

    def __init__(self, rules: Sequence[InhibitRule], firing: Iterable[Mapping[str, str]]) -> None:
        self._rules = tuple(rules)
        # per rule: equal values -> (sources, sources that do not match the target side)
        self._index: list[dict[tuple[str, ...], list[int]]] = [{} for _ in self._rules]
        for source in firing:
            for rule, index in zip(self._rules, self._index, strict=True):
                if matches_all(rule.sources, source):
                    counts = index.setdefault(_key(rule, source), [0, 0])
                    counts[0] += 1
                    counts[1] += not matches_all(rule.targets, source)

    def mutes(self, labels: Mapping[str, str]) -> bool:
        """Whether the alert with `labels` is inhibited by one of the firing alerts."""
        for rule, index in zip(self._rules, self._index, strict=True):
            if not matches_all(rule.targets, labels):
                continue
            counts = index.get(_key(rule, labels))
            if counts is None:
                continue
            two_sided = matches_all(rule.sources, labels)
            if counts[1 if two_sided else 0] > 0:
                return True
        return False


def _key(rule: InhibitRule, labels: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in rule.equal)

"""The route tree: which routes (receiver, grouping, timers) an alert goes to, and its group key.

Semantics of Alertmanager's dispatch/route.go. A route matches when all its matchers do;
its children are tried in order, the first that matches ends the search unless it has
`continue: true`; a matching route no child of which matches is the answer itself. Options
are inherited down the tree (receiver, group_by, group_wait 30s, group_interval 5m,
repeat_interval 4h); time intervals are not. The group key is the route's key (each
ancestor's sorted matchers, `{}/{severity="page"}`) and the group labels:
`{}/{severity="page"}:{alertname="Down"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from safeship.alerting.am_config import RouteConfig
from safeship.core.labels import Labels
from safeship.core.matchers import Matcher, format_matchers, go_quote, matches_all

GROUP_WAIT_S = 30.0
GROUP_INTERVAL_S = 300.0
REPEAT_INTERVAL_S = 4 * 3600.0


@dataclass(frozen=True)
class RouteOptions:
    receiver: str
    group_by: frozenset[str] | None  # None: every label (`...`)
    group_wait_s: float = GROUP_WAIT_S
    group_interval_s: float = GROUP_INTERVAL_S
    repeat_interval_s: float = REPEAT_INTERVAL_S
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    key: str
    index: int  # the route's number in a depth-first walk, children first (Alertmanager's Idx)
    matchers: tuple[Matcher, ...]
    options: RouteOptions
    continue_: bool
    children: tuple[Route, ...]

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes the alert with `labels` goes to, in tree order; [] if this one refuses it."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.children:
            matched = child.match(labels)
            found += matched
            if matched and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Labels) -> Labels:
        by = self.options.group_by
        return labels if by is None else tuple(p for p in labels if p[0] in by)

    def group_key(self, group_labels: Labels) -> str:
        return f"{self.key}:{format_label_set(group_labels)}"


def format_label_set(labels: Labels) -> str:
    """Prometheus' LabelSet.String(): `{a="b", c="d"}`, sorted, Go-quoted values."""
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in labels) + "}"


def build_tree(root: RouteConfig) -> Route:
    """The tree of `root` with every option resolved (the root's receiver must be set)."""
    counter = [0]
    defaults = RouteOptions(receiver="", group_by=frozenset())
    return _build(root, defaults, parent_key=None, counter=counter)


def _build(
    config: RouteConfig, parent: RouteOptions, *, parent_key: str | None, counter: list[int]
) -> Route:
    options = _options(config, parent)
    matchers = tuple(config.all_matchers())
    own = format_matchers(matchers)
    key = own if parent_key is None else f"{parent_key}/{own}"
    children = tuple(_build(c, options, parent_key=key, counter=counter) for c in config.routes)
    index = counter[0]
    counter[0] += 1
    return Route(key, index, matchers, options, config.continue_, children)


def _options(config: RouteConfig, parent: RouteOptions) -> RouteOptions:
    group_by = parent.group_by
    if config.group_by is not None:
        group_by = None if config.group_by == ["..."] else frozenset(config.group_by)
    return RouteOptions(
        receiver=config.receiver or parent.receiver,
        group_by=group_by,
        group_wait_s=_given(config.group_wait, parent.group_wait_s),
        group_interval_s=_given(config.group_interval, parent.group_interval_s),
        repeat_interval_s=_given(config.repeat_interval, parent.repeat_interval_s),
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
    )


def _given(value: float | None, inherited: float) -> float:
    return inherited if value is None else value

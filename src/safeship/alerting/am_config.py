"""Alertmanager's configuration file as pydantic models, checked as `amtool check-config` does.

Where it sits: the user's language for "alerts ─▶ routes ─▶ notifications" (DESIGN §2). An
operator's alertmanager.yml loads as it is (alerting/am_config_files.py reads it through the
hardened YAML reader): `global`, `route` (receiver, group_by with `...`, matchers and the
deprecated match/match_re, continue, group_wait/group_interval/repeat_interval inherited
down the tree, mute/active time intervals), `receivers` (alerting/receivers.py, the model
delivery sends through too),
`inhibit_rules`, `time_intervals` (and the deprecated `mute_time_intervals`), `templates`.
Unknown keys are refused, as Alertmanager's strict YAML decoding does; the checks that span
sections (undefined receiver, duplicate names, the root route's rules) name the key at fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, ModelWrapValidatorHandler, field_validator, model_validator

from safeship.alerting.am_base import (
    AmModel,
    Problem,
    PromDuration,
    Text,
    all_matchers,
    check_legacy_names,
    check_matchers,
    check_regexes,
)
from safeship.alerting.am_intervals import NamedTimeIntervals
from safeship.alerting.am_receivers import GlobalConfig, integration_problems
from safeship.alerting.receivers import Receiver
from safeship.alerting.time_intervals import TimeInterval
from safeship.config.base import located_error
from safeship.core.matchers import Matcher


class RouteConfig(AmModel):
    receiver: str | None = None
    group_by: list[str] | None = None
    match: dict[str, Text] | None = None
    match_re: dict[str, Text] | None = None
    matchers: list[str] | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)
    group_wait: PromDuration | None = None
    group_interval: PromDuration | None = None
    repeat_interval: PromDuration | None = None

    @field_validator("match")
    @classmethod
    def check_match(cls, value: dict[str, str] | None) -> dict[str, str]:
        return check_legacy_names(value or {})

    @field_validator("match_re")
    @classmethod
    def check_match_re(cls, value: dict[str, str] | None) -> dict[str, str]:
        return check_regexes(value or {})

    @field_validator("matchers")
    @classmethod
    def check_matchers(cls, value: list[str] | None) -> list[str]:
        return check_matchers(value or [])

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if "..." in value and len(value) > 1:
            raise ValueError("expected '...' alone or label names, found both")
        for name in value:
            if name == "" or value.count(name) > 1:
                raise ValueError(f"expected each label name once, found {name!r}")
        return value

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _not_zero(cls, value: float | None) -> float | None:
        if value == 0:
            raise ValueError("expected a duration above zero, found 0")
        return value

    def all_matchers(self) -> list[Matcher]:
        """match, match_re and matchers as one sorted list, as Alertmanager's route keeps them."""
        return all_matchers(self.match or {}, self.match_re or {}, self.matchers or [])

    def walk(
        self, at: tuple[str | int, ...] = ("route",)
    ) -> Iterator[tuple[tuple[str | int, ...], RouteConfig]]:
        yield at, self
        for index, child in enumerate(self.routes):
            yield from child.walk((*at, "routes", index))


class InhibitRuleConfig(AmModel):
    source_match: dict[str, Text] | None = None
    source_match_re: dict[str, Text] | None = None
    source_matchers: list[str] | None = None
    target_match: dict[str, Text] | None = None
    target_match_re: dict[str, Text] | None = None
    target_matchers: list[str] | None = None
    equal: list[str] = Field(default_factory=list)

    @field_validator("source_match", "target_match")
    @classmethod
    def check_match(cls, value: dict[str, str] | None) -> dict[str, str]:
        return check_legacy_names(value or {})

    @field_validator("source_match_re", "target_match_re")
    @classmethod
    def check_match_re(cls, value: dict[str, str] | None) -> dict[str, str]:
        return check_regexes(value or {})

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def check_matchers(cls, value: list[str] | None) -> list[str]:
        return check_matchers(value or [])

    def sources(self) -> list[Matcher]:
        return all_matchers(
            self.source_match or {}, self.source_match_re or {}, self.source_matchers or []
        )

    def targets(self) -> list[Matcher]:
        return all_matchers(
            self.target_match or {}, self.target_match_re or {}, self.target_matchers or []
        )


class AlertmanagerConfig(AmModel):
    """An alertmanager.yml; `check` problems raise located errors at load."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    route: RouteConfig | None = None
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=list)
    receivers: list[Receiver] = Field(default_factory=list)
    templates: list[str] = Field(default_factory=list)
    mute_time_intervals: list[NamedTimeIntervals] = Field(default_factory=list)
    time_intervals: list[NamedTimeIntervals] = Field(default_factory=list)
    tracing: dict[str, Any] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _cross_checks(
        cls, data: Any, handler: ModelWrapValidatorHandler[AlertmanagerConfig]
    ) -> Any:
        config = handler(data)
        problems = list(config._problems())
        if problems:
            raise located_error(cls.__name__, problems)
        return config

    def receiver(self, name: str) -> Receiver:
        return next(r for r in self.receivers if r.name == name)

    def intervals(self) -> dict[str, tuple[TimeInterval, ...]]:
        """Every named time interval (both lists share one namespace)."""
        return {t.name: t.compile() for t in (*self.mute_time_intervals, *self.time_intervals)}

    def _problems(self) -> Iterator[Problem]:
        yield from self._name_problems()
        if self.route is None:
            yield ("route",), "expected a route, found none", None
            return
        yield from self._root_problems(self.route)
        receivers = {r.name for r in self.receivers}
        intervals = {t.name for t in (*self.mute_time_intervals, *self.time_intervals)}
        for at, route in self.route.walk():
            if route.receiver is not None and route.receiver not in receivers:
                yield (*at, "receiver"), "expected a receiver defined in receivers", route.receiver
            for key in ("mute_time_intervals", "active_time_intervals"):
                for index, name in enumerate(getattr(route, key)):
                    if name not in intervals:
                        yield (*at, key, index), "expected a defined time interval", name
        yield from integration_problems(self.global_, self.receivers)

    def _name_problems(self) -> Iterator[Problem]:
        seen: set[str] = set()
        for index, receiver in enumerate(self.receivers):
            if receiver.name in seen:
                yield ("receivers", index, "name"), "expected a unique name", receiver.name
            seen.add(receiver.name)
        seen = set()
        for key in ("mute_time_intervals", "time_intervals"):
            for index, named in enumerate(getattr(self, key)):
                if named.name in seen:
                    yield (key, index, "name"), "expected a unique name", named.name
                seen.add(named.name)

    def _root_problems(self, root: RouteConfig) -> Iterator[Problem]:
        if not root.receiver:
            yield ("route", "receiver"), "expected a default receiver on the root route", None
        if root.continue_:
            yield ("route", "continue"), "expected no continue on the root route", True
        for key in (
            "match",
            "match_re",
            "matchers",
            "mute_time_intervals",
            "active_time_intervals",
        ):
            if getattr(root, key):
                yield ("route", key), "expected no matchers or time intervals on the root", key


RouteConfig.model_rebuild()

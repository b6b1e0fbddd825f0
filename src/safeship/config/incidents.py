"""The `incidents:` section of safeship.yaml: which alerts make an incident, who owns it,
what safeship does on its own when one opens, and when it escalates.

Where it sits: `ControlPlaneConfig.incidents` (config/metrics.py); the pure lifecycle
(incidents/lifecycle.py) reads these models. Matchers use Alertmanager's syntax
(`label="v"`, `=~`, `!=`, `!~`, regexes anchored at both ends), parsed here so a bad one is
a config error at its file, line and key.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from safeship.config.base import Duration, Model, located_error

Operator = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^"\s,{}]*))\s*$'
)
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


class Matcher(Model):
    """One label condition on an alert; a missing label matches as the empty string."""

    name: str
    op: Operator
    value: str

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile(f"(?:{self.value})\\Z", re.DOTALL)

    def matches(self, labels: dict[str, str]) -> bool:
        found = labels.get(self.name, "")
        if self.op == "=":
            return found == self.value
        if self.op == "!=":
            return found != self.value
        hit = self._regex.match(found) is not None
        return hit if self.op == "=~" else not hit


def parse_matcher(text: object) -> object:
    """`name="value"` (or `=~`, `!=`, `!~`; quotes optional) → a Matcher's fields."""
    if not isinstance(text, str):
        return text  # a mapping {name, op, value} validates as it is
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(
            f'expected a matcher like service="shop" or alertname=~"High.*", found {text!r}'
        )
    quoted = found.group("quoted")
    value = _unquote(quoted) if quoted is not None else found.group("bare")
    if found.group("op") in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(
                f"expected a valid regular expression, found {value!r}: {exc}"
            ) from None
    return {"name": found.group("name"), "op": found.group("op"), "value": value}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text)


class RollbackAction(Model):
    """Roll back the active rollout of the alert's `service` (fast, or gradual waves)."""

    type: Literal["rollback"]
    mode: Literal["fast", "gradual"] = "fast"
    cooldown: Duration = 600.0


class PauseAction(Model):
    """Pause the active rollouts of the alert's `service`, or of every service."""

    type: Literal["pause"]
    scope: Literal["service", "all"] = "service"
    cooldown: Duration = 600.0


class CommandAction(Model):
    """Run `command` (argv, no shell); {incident}, {definition}, {service} are filled in."""

    type: Literal["command"]
    command: Annotated[list[str], Field(min_length=1)]
    timeout: Annotated[Duration, Field(gt=0, le=600)] = 30.0
    cooldown: Duration = 600.0


class WebhookAction(Model):
    """POST the incident as JSON to `url`; any 2xx answer is a success."""

    type: Literal["webhook"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    timeout: Annotated[Duration, Field(gt=0, le=60)] = 10.0
    cooldown: Duration = 600.0


MAX_REPLICAS = 100  # far above what one machine's agent runs of one service


class ScaleAction(Model):
    """Run `replicas` replicas of the stable version of the definition's service (pinned by
    a `service="name"` matcher, a service of safeship.yaml) on the agent; refused while a
    rollout of that service is under way."""

    type: Literal["scale"]
    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)]
    cooldown: Duration = 600.0


Action = Annotated[
    RollbackAction | PauseAction | CommandAction | WebhookAction | ScaleAction,
    Field(discriminator="type"),
]


class EscalateSpec(Model):
    """Escalate when nobody acknowledged the incident `after` it opened; with `url`, the
    incident is POSTed there (a pager's webhook); with `receiver`, a receiver of serve's
    `alertmanager_config` is notified through the notification outbox (retried, never lost)."""

    after: Annotated[Duration, Field(gt=0)]
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    receiver: Annotated[str, Field(min_length=1)] | None = None
    timeout: Annotated[Duration, Field(gt=0, le=60)] = 10.0

    @model_validator(mode="after")
    def _one_target(self) -> EscalateSpec:
        if self.url is not None and self.receiver is not None:
            raise ValueError("expected one of url or receiver, found both")
        return self


class IncidentDefinition(Model):
    """Alerts matching every matcher open (or join) one incident per `groupBy` label values."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    matchers: list[Annotated[Matcher, BeforeValidator(parse_matcher)]] = Field(min_length=1)
    severity: Literal["critical", "high", "warning", "info"] = "warning"
    owner: str = ""
    group_by: list[str] = Field(default_factory=lambda: ["service", "alertname"])
    actions: list[Action] = Field(default_factory=list)
    escalate: EscalateSpec | None = None
    # Resolve on its own once every alert has been resolved for `quietPeriod`.
    auto_resolve: bool = True
    quiet_period: Duration = 300.0

    @model_validator(mode="after")
    def _scale_pins_service(self) -> IncidentDefinition:
        if self.service is None:
            problems = [
                (("actions", i), 'expected a matcher service="<name>" with scale, found none', a)
                for i, a in enumerate(self.actions)
                if isinstance(a, ScaleAction)
            ]
            if problems:
                raise located_error(type(self).__name__, problems)
        return self

    @property
    def service(self) -> str | None:
        """The one service every matching alert names (a `service="name"` matcher), if any."""
        pinned = {m.value for m in self.matchers if m.name == "service" and m.op == "="}
        return next(iter(pinned)) if len(pinned) == 1 else None

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


class IncidentsSpec(Model):
    """Every incident definition, and how often the incident manager looks at the alerts."""

    interval: Annotated[Duration, Field(gt=0)] = 5.0
    definitions: list[IncidentDefinition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> IncidentsSpec:
        names = [d.name for d in self.definitions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"expected unique definition names, found {', '.join(twice)} twice")
        return self

    def named(self, name: str) -> IncidentDefinition | None:
        return next((d for d in self.definitions if d.name == name), None)

"""The `incidents:` section of safeship.yaml: which alerts make an incident, who owns it,
what safeship does on its own when one opens, and when it escalates.

Where it sits: `ControlPlaneConfig.incidents` (config/metrics.py); the pure lifecycle
(incidents/lifecycle.py) reads these models. Matchers are Alertmanager's, parsed by the
same code as routes and silences (core/matchers.py: RE2 regexes anchored at both ends), so a
bad one is a config error at its file, line and key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from safeship.config.base import Duration, Model, located_error
from safeship.core.matchers import Matcher, Op, matches_all, parse_matcher


def _matcher(text: object) -> Matcher:
    """`name="value"` (or `=~`, `!=`, `!~`), parsed as Alertmanager parses route matchers."""
    if isinstance(text, Matcher):
        return text
    if not isinstance(text, str):
        raise ValueError(f'expected a matcher like service="shop", found {text!r}')
    return parse_matcher(text)


AlertMatcher = Annotated[
    Matcher,
    PlainValidator(_matcher),
    PlainSerializer(str),
    WithJsonSchema({"type": "string"}),
]


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
    matchers: list[AlertMatcher] = Field(min_length=1)
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
        pinned = {m.value for m in self.matchers if m.name == "service" and m.op is Op.EQUAL}
        return next(iter(pinned)) if len(pinned) == 1 else None

    def matches(self, labels: dict[str, str]) -> bool:
        return matches_all(self.matchers, labels)


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

"""Rule files in Prometheus's format: groups of alerting and recording rules.

The first step of alerting: YAML → validated models (via `safeship.config.loader`, so every
mistake names file:line:key). `safeship rules check` stops here; the group evaluator and
`safeship rules test` consume the models.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from safeship.alerting.templates import check
from safeship.core.durations import parse_duration
from safeship.core.errors import TemplateError
from safeship.metrics.promql import PromQLError
from safeship.metrics.promql.parsing import parse

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _parses_as_template(text: str, info: ValidationInfo) -> str:
    """Prometheus's rulefmt check: every label and annotation parses as an alert template."""
    alert = info.data.get("alert")
    if alert is None:
        return text  # a recording rule's labels are not templates
    try:
        check(text, alert=alert)
    except TemplateError as exc:
        raise ValueError(f"expected a template that parses (alert {alert}), found {exc}") from None
    return text


Template = Annotated[str, AfterValidator(_parses_as_template)]
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class _Strict(BaseModel):
    # Prometheus's keys are snake_case already, so no alias generator here.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Rule(_Strict):
    """One rule: exactly one of `alert` (a name) or `record` (a metric name)."""

    alert: str | None = None
    record: str | None = None
    expr: str
    for_: Duration = Field(0.0, alias="for", ge=0)
    keep_firing_for: Duration = Field(0.0, ge=0)
    labels: dict[str, Template] = Field(default_factory=dict)
    annotations: dict[str, Template] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.alert or self.record or ""

    @field_validator("expr", mode="before")
    @classmethod
    def _parses(cls, value: object) -> object:
        if isinstance(value, int | float):
            value = str(value)  # `expr: 1` is a valid rule in Prometheus
        if isinstance(value, str):
            try:
                parse(value)
            except PromQLError as exc:
                raise ValueError(f"expected a valid PromQL expression, found {exc}") from None
        return value

    @field_validator("record")
    @classmethod
    def _metric_name(cls, value: str | None) -> str | None:
        if value is not None and not _METRIC_NAME.match(value):
            raise ValueError(f"expected a metric name like job:rate5m, found {value!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"expected label names like severity, found {name!r}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Rule:
        if (self.alert is None) == (self.record is None):
            raise ValueError("expected exactly one of alert or record, found both or neither")
        if self.record is not None and (self.for_ or self.keep_firing_for or self.annotations):
            raise ValueError("expected no for/keep_firing_for/annotations on a recording rule")
        if self.alert is not None and not self.alert.strip():
            raise ValueError("expected an alert name, found an empty string")
        return self


class RuleGroup(_Strict):
    name: str = Field(min_length=1)
    interval: Duration | None = None
    rules: list[Rule] = Field(default_factory=list)


class RuleFile(_Strict):
    groups: list[RuleGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_groups(self) -> RuleFile:
        names = [g.name for g in self.groups]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"expected unique group names, found {', '.join(duplicates)} twice")
        return self

"""The user's language for service level objectives: the `slos:` list of safeship.yaml.

An SLO says which share of a service's requests must be good over a window (99.9 % over
30 days). Its error budget is the rest (0.1 %). alerting/slo.py turns each one into
recording rules and multi-window multi-burn-rate alerts; `safeship slo status` reports the
budget left. Queries use sloth's `{{.window}}` placeholder for the range of their rates.
"""

from __future__ import annotations

import re
from typing import Annotated

import promql_parser
from pydantic import Field, field_validator, model_validator

from safeship.config.base import Duration, Model

WINDOW = "{{.window}}"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED = frozenset({"slo", "service", "severity", "__name__"})


def with_window(query: str, window: str) -> str:
    """`query` with every `{{.window}}` replaced by a PromQL range such as `5m`."""
    return query.replace(WINDOW, window)


class SloSpec(Model):
    """One SLO. Exactly one of `good` or `errors`; `total` and it are per-second rates with
    `{{.window}}` as their range, e.g. `sum(rate(x_total[{{.window}}]))`."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", max_length=100)]
    service: Annotated[str, Field(min_length=1)]
    objective: Annotated[float, Field(gt=0, lt=100)]  # percent of good requests
    window: Annotated[Duration, Field(ge=3600)] = 30 * 86400.0
    good: str | None = None
    errors: str | None = None
    total: str
    # Requests each window of an alert's pair must have seen for the pair to count: with
    # less traffic one error is a huge ratio, and nobody should be paged for it.
    min_traffic: Annotated[float, Field(ge=0)] = 0.0
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""

    @property
    def budget(self) -> float:
        """The error budget as a ratio: 0.001 for 99.9 %."""
        return round(1.0 - self.objective / 100.0, 12)

    @field_validator("good", "errors", "total")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if WINDOW not in value:
            raise ValueError(f"expected a query with {WINDOW} as its range, found {value!r}")
        try:
            promql_parser.parse(with_window(value, "5m"))
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"expected a valid PromQL query, found {exc}") from None
        return value

    @field_validator("description")
    @classmethod
    def _plain(cls, value: str) -> str:
        if "{{" in value:
            raise ValueError(f"expected plain text, found a template in {value!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if "{{" in text:
                raise ValueError(f"expected plain label values, found {text!r}")
            if not _LABEL_NAME.match(name) or name.startswith("__") or name in _RESERVED:
                raise ValueError(
                    f"expected label names other than {sorted(_RESERVED)}, found {name!r}"
                )
        return value

    @model_validator(mode="after")
    def _one_ratio(self) -> SloSpec:
        if (self.good is None) == (self.errors is None):
            raise ValueError("expected exactly one of 'good' or 'errors'")
        ratio = f"({self.good or self.errors}) / ({self.total})"
        try:  # each parses alone; divided they must be instant vectors, as rules need
            promql_parser.parse(with_window(ratio, "5m"))
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"expected queries that give instant vectors, found {exc}") from None
        return self

"""Building blocks of the Alertmanager config models (alerting/am_config.py): the strict
base model, Prometheus durations, and the checks matchers and label names go through."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from safeship.core.matchers import Matcher, Op, parse_matchers, sort_matchers
from safeship.core.regex import RegexError, compile_anchored

Problem = tuple[tuple[str | int, ...], str, Any]
LEGACY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PROM_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)


def parse_prom_duration(value: Any) -> float:
    """Seconds in a Prometheus duration ("30s", "1h30m", "0"): units in order, no fractions."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise ValueError(f"expected a duration like '30s' or '5m', found {value!r}")
    if text == "0":
        return 0.0
    found = _PROM_DURATION.fullmatch(text)
    if not text or found is None:
        raise ValueError(f"expected a duration like '30s', '5m' or '1h30m', found {text!r}")
    return sum(int(n) * unit for n, unit in zip(found.groups(), _DURATION_UNITS, strict=True) if n)


def _scalar_text(value: Any) -> Any:
    """YAML gives 1 for `- 1`; Alertmanager reads these fields as strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


PromDuration = Annotated[float, BeforeValidator(parse_prom_duration)]
Text = Annotated[str, BeforeValidator(_scalar_text)]


class AmModel(BaseModel):
    """Alertmanager's keys are snake_case, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """`key: ~` leaves the field unset, as Go's YAML decoder does (a null list item or
        map value is still an error)."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http or https URL, found scheme {parts.scheme!r}")
    if not parts.netloc:
        raise ValueError("expected a URL with a host, found none")
    return url


def check_matchers(lines: list[str]) -> list[str]:
    for line in lines:
        parse_matchers(line)  # raises MatcherError (a ValueError) with Alertmanager's reason
    return lines


def check_legacy_names(mapping: dict[str, str]) -> dict[str, str]:
    for name in mapping:
        if not LEGACY_NAME.fullmatch(name):
            raise ValueError(f"expected a label name like [a-zA-Z_][a-zA-Z0-9_]*, found {name!r}")
    return mapping


def check_regexes(mapping: dict[str, str]) -> dict[str, str]:
    check_legacy_names(mapping)
    for pattern in mapping.values():
        try:
            compile_anchored(pattern)
        except RegexError as exc:
            raise ValueError(str(exc)) from None
    return mapping


def all_matchers(equal: dict[str, str], regex: dict[str, str], lines: list[str]) -> list[Matcher]:
    found = [Matcher.of(k, Op.EQUAL, v) for k, v in equal.items()]
    found += [Matcher.of(k, Op.REGEX, f"^(?:{v})$") for k, v in regex.items()]
    found += [m for line in lines for m in parse_matchers(line)]
    return list(sort_matchers(found))

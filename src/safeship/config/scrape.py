"""What to scrape and how to label it: Prometheus' `scrape_configs` and relabelling, pure.

Where it sits: `config/metrics.py` reads these models from `safeship.yaml` (keys are
snake_case, exactly as in prometheus.yml, so a user can paste a job over); the scraper
(metrics/scrape.py) turns each target into its final label set with `target_labels` and
merges them into every scraped series with `series_labels`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from safeship.core.durations import format_duration, parse_duration
from safeship.core.labels import Labels, make_labels

Duration = Annotated[float, BeforeValidator(parse_duration)]
Action = Literal["replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep"]


class _Prometheus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelabelConfig(_Prometheus):
    source_labels: list[str] = []
    separator: str = ";"
    regex: str = "(.*)"
    target_label: str | None = None
    replacement: str = "$1"
    action: Action = "replace"

    @model_validator(mode="after")
    def _valid(self) -> RelabelConfig:
        try:
            re.compile(self.regex)
        except re.error as exc:
            raise ValueError(f"expected a valid regex, found {self.regex!r}: {exc}") from None
        if self.action == "replace" and not self.target_label:
            raise ValueError("expected target_label for action 'replace'")
        return self


class StaticConfig(_Prometheus):
    targets: list[str]
    labels: dict[str, str] = {}


class ScrapeConfig(_Prometheus):
    job_name: Annotated[str, Field(min_length=1)]
    scrape_interval: Duration = 15.0
    scrape_timeout: Duration | None = None  # as in Prometheus: 10s, but at most the interval
    metrics_path: str = "/metrics"
    scheme: Literal["http", "https"] = "http"
    honor_labels: bool = False
    honor_timestamps: bool = True
    static_configs: list[StaticConfig] = []
    relabel_configs: list[RelabelConfig] = []

    @model_validator(mode="after")
    def _timeout_fits(self) -> ScrapeConfig:
        if self.scrape_timeout is not None and self.scrape_timeout > self.scrape_interval:
            raise ValueError("expected scrape_timeout <= scrape_interval")
        return self

    @property
    def timeout(self) -> float:
        if self.scrape_timeout is not None:
            return self.scrape_timeout
        return min(10.0, self.scrape_interval)


def discovered_labels(
    job: ScrapeConfig, address: str, extra: Mapping[str, str], *, metrics_path: str | None = None
) -> dict[str, str]:
    """A target's labels before relabelling, as Prometheus' service discovery hands them over."""
    return {
        "job": job.job_name,
        "__address__": address,
        "__scheme__": job.scheme,
        "__metrics_path__": metrics_path or job.metrics_path,
        "__scrape_interval__": format_duration(job.scrape_interval),
        "__scrape_timeout__": format_duration(job.timeout),
        **extra,
    }


def target_labels(
    discovered: Mapping[str, str], rules: Sequence[RelabelConfig]
) -> tuple[dict[str, str], Labels] | None:
    """(all labels after relabelling, the public target labels) or None when dropped."""
    relabelled = relabel(discovered, rules)
    if relabelled is None or not relabelled.get("__address__"):
        return None
    relabelled.setdefault("instance", relabelled["__address__"])
    public = make_labels({k: v for k, v in relabelled.items() if not k.startswith("__")})
    return relabelled, public


def relabel(labels: Mapping[str, str], rules: Sequence[RelabelConfig]) -> dict[str, str] | None:
    """Apply relabel rules in order; None when a keep/drop rule drops the set."""
    current = dict(labels)
    for rule in rules:
        result = _apply(current, rule)
        if result is None:
            return None
        current = result
    return current


def _apply(labels: dict[str, str], rule: RelabelConfig) -> dict[str, str] | None:
    pattern = _anchored(rule.regex)
    if rule.action in ("labelmap", "labeldrop", "labelkeep"):
        return _on_names(labels, rule, pattern)
    joined = rule.separator.join(labels.get(name, "") for name in rule.source_labels)
    found = pattern.match(joined)
    if rule.action == "keep":
        return labels if found else None
    if rule.action == "drop":
        return None if found else labels
    if found is None or rule.target_label is None:
        return labels
    target = _expand(found, rule.target_label)
    value = _expand(found, rule.replacement)
    out = dict(labels)
    if value == "":
        out.pop(target, None)  # an empty value deletes the label, as in Prometheus
    else:
        out[target] = value
    return out


def _on_names(
    labels: dict[str, str], rule: RelabelConfig, pattern: re.Pattern[str]
) -> dict[str, str]:
    if rule.action == "labeldrop":
        return {k: v for k, v in labels.items() if not pattern.match(k)}
    if rule.action == "labelkeep":
        return {k: v for k, v in labels.items() if pattern.match(k)}
    out = dict(labels)
    for name, value in labels.items():
        found = pattern.match(name)
        if found:
            out[_expand(found, rule.replacement)] = value
    return out


def series_labels(scraped: Labels, target: Labels, *, honor_labels: bool) -> Labels:
    """A scraped series' final labels: the target's labels merged in, Prometheus-style.

    On a clash the scraped value wins with honor_labels; otherwise the target's value wins
    and the scraped one is kept as `exported_<name>`.
    """
    merged = dict(scraped)
    for name, value in target:
        if name in merged and honor_labels:
            continue
        if name in merged:
            merged["exported_" + name] = merged[name]
        merged[name] = value
    return make_labels(merged)


@lru_cache(maxsize=256)
def _anchored(regex: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{regex})$")


_GROUP = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand(found: re.Match[str], template: str) -> str:
    """Prometheus' `$1` / `${1}` / `${name}` expansion; unknown groups expand to ''."""

    def group(m: re.Match[str]) -> str:
        ref = m.group(1) or m.group(2)
        try:
            return found.group(int(ref) if ref.isdigit() else ref) or ""
        except IndexError:
            return ""

    return _GROUP.sub(group, template)

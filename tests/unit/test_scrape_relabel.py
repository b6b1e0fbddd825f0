"""Relabelling and target labels, as Prometheus applies them to scrape targets and series."""

from __future__ import annotations

import pytest

from safeship.config.scrape import (
    RelabelConfig,
    ScrapeConfig,
    relabel,
    series_labels,
)
from safeship.core.labels import NAME
from safeship.metrics.scrape import static_targets

BASE = {"__address__": "10.0.0.1:9100", "job": "node", "__meta_zone": "eu-1", "env": "prod"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"source_labels": ["__meta_zone"], "target_label": "zone"},
            {**BASE, "zone": "eu-1"},
        ),
        (
            {
                "source_labels": ["__address__"],
                "regex": "(.*):(\\d+)",
                "target_label": "host",
                "replacement": "${1}-$2",
            },
            {**BASE, "host": "10.0.0.1-9100"},
        ),
        ({"source_labels": ["env"], "regex": "prod", "action": "keep"}, BASE),
        ({"source_labels": ["env"], "regex": "dev", "action": "keep"}, None),
        ({"source_labels": ["env"], "regex": "pro", "action": "drop"}, BASE),  # anchored
        ({"source_labels": ["env"], "regex": "prod", "action": "drop"}, None),
        (
            {"regex": "__meta_(.+)", "action": "labelmap"},
            {**BASE, "zone": "eu-1"},
        ),
        ({"regex": "env", "action": "labeldrop"}, {k: v for k, v in BASE.items() if k != "env"}),
        (
            {"regex": "__.*|job", "action": "labelkeep"},
            {k: v for k, v in BASE.items() if k != "env"},
        ),
        (
            {"source_labels": ["nope"], "target_label": "env", "replacement": "$1"},
            {k: v for k, v in BASE.items() if k != "env"},  # empty value deletes
        ),
        (
            {
                "source_labels": ["env", "job"],
                "regex": "prod;node",
                "target_label": "both",
                "replacement": "yes",
            },
            {**BASE, "both": "yes"},
        ),
    ],
)
def test_relabel_actions(rule: dict[str, object], expected: dict[str, str] | None) -> None:
    assert relabel(BASE, [RelabelConfig.model_validate(rule)]) == expected


def test_static_targets_get_instance_job_and_drop_hidden_labels() -> None:
    config = ScrapeConfig.model_validate(
        {
            "job_name": "api",
            "scrape_interval": "5s",
            "scrape_timeout": "2s",
            "metrics_path": "/m",
            "static_configs": [
                {"targets": ["127.0.0.1:1", "127.0.0.1:2"], "labels": {"team": "x"}}
            ],
            "relabel_configs": [
                {"source_labels": ["__address__"], "regex": ".*:2", "action": "drop"}
            ],
        }
    )
    (target,) = static_targets(config)
    assert target.url == "http://127.0.0.1:1/m"
    assert dict(target.labels) == {"instance": "127.0.0.1:1", "job": "api", "team": "x"}
    assert (target.interval, target.timeout) == (5.0, 2.0)


def test_timeout_longer_than_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="scrape_timeout"):
        ScrapeConfig.model_validate(
            {"job_name": "a", "scrape_interval": "1s", "scrape_timeout": "2s"}
        )


@pytest.mark.parametrize(
    ("honor", "expected"),
    [
        (False, {NAME: "m", "job": "target", "exported_job": "scraped", "instance": "i"}),
        (True, {NAME: "m", "job": "scraped", "instance": "i"}),
    ],
)
def test_label_clashes_follow_honor_labels(honor: bool, expected: dict[str, str]) -> None:
    scraped = ((NAME, "m"), ("job", "scraped"))
    target = (("instance", "i"), ("job", "target"))
    assert dict(series_labels(scraped, target, honor_labels=honor)) == expected

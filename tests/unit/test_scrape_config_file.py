"""safeship.yaml for `safeship serve` and a rollout spec's `metrics:` source section."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from safeship.config.loader import load_control_plane
from safeship.config.metrics import ControlPlaneConfig, MetricsSpec
from safeship.core.errors import ConfigError


def test_a_prometheus_job_can_be_pasted_as_is(tmp_path: Path) -> None:
    path = tmp_path / "safeship.yaml"
    path.write_text(
        "listen: 127.0.0.1:9999\n"
        "scrape_configs:\n"
        "  - job_name: node\n"
        "    scrape_interval: 5s\n"
        "    honor_labels: true\n"
        "    static_configs: [{targets: ['127.0.0.1:9100'], labels: {env: prod}}]\n"
        "    relabel_configs:\n"
        "      - {source_labels: [env], regex: prod, action: keep}\n"
    )
    config = load_control_plane(path)
    (job,) = config.scrape_configs
    assert (config.listen, job.job_name, job.scrape_interval, job.honor_labels) == (
        "127.0.0.1:9999",
        "node",
        5.0,
        True,
    )


def test_defaults_listen_on_loopback_with_the_embedded_store() -> None:
    config = load_control_plane(None)
    assert config.listen == "127.0.0.1:8470"
    assert config.metrics.source.prometheus is None
    assert config.metrics.source.embedded_or_default.scrape_interval == 1.0


@pytest.mark.parametrize(
    ("yaml", "where"),
    [
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: soon\n", "scrape_interval"),
        ("scrape_configs:\n  - {job_name: a}\n  - {job_name: a}\n", "twice"),
        ("listen: everywhere\n", "listen"),
        ("scrape_configs:\n  - {job_name: a, relabel_configs: [{regex: '('}]}\n", "regex"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, yaml: str, where: str) -> None:
    path = tmp_path / "safeship.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError, match=where):
        load_control_plane(path)


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ({"prometheus": "http://127.0.0.1:9090/"}, True),
        ({"embedded": {"scrapeInterval": "2s"}}, True),
        ({"prometheus": "127.0.0.1:9090"}, False),
        ({"prometheus": "http://x", "embedded": {}}, False),
    ],
)
def test_metrics_source_is_embedded_or_one_prometheus_url(
    source: dict[str, object], ok: bool
) -> None:
    if ok:
        spec = MetricsSpec.model_validate({"source": source})
        prometheus = spec.source.prometheus
        assert prometheus is None or prometheus.url == "http://127.0.0.1:9090"
    else:
        with pytest.raises(ValidationError):
            MetricsSpec.model_validate({"source": source})


def test_control_plane_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        ControlPlaneConfig.model_validate({"scrape_config": []})

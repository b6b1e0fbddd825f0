"""`remote_write:` in safeship.yaml: Prometheus' keys, and what serve refuses at load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from safeship.config.metrics import ControlPlaneConfig

URL = "http://127.0.0.1:9090/api/v1/write"


def test_a_block_pasted_from_prometheus_yml_loads_with_its_defaults() -> None:
    config = ControlPlaneConfig.model_validate(
        {"remote_write": [{"url": URL, "queue_config": {"max_samples_per_send": 500}}]}
    )
    (queue,) = config.remote_write
    assert queue.queue_config.max_samples_per_send == 500
    assert queue.queue_config.capacity == 10_000 and queue.queue_config.max_backoff == 5.0
    assert len(queue.queue_name) == 6 and "secret" not in repr(
        ControlPlaneConfig.model_validate(
            {"remote_write": [{"url": URL, "bearer_token": "secret-token-value"}]}
        )
    )


@pytest.mark.parametrize(
    ("entry", "metrics", "expected"),
    [
        ({"url": URL, "queue_config": {"max_shards": 4}}, {}, "max_shards"),
        ({"url": "ftp://x"}, {}, "http(s)://"),
        ({"url": URL, "bearer_token": "a", "bearer_token_file": "b"}, {}, "at most one"),
        ({"url": URL}, {"source": {"embedded": {"wal": {"enabled": False}}}}, "remote_write"),
    ],
)
def test_what_serve_cannot_do_is_refused_naming_it(
    entry: dict[str, object], metrics: dict[str, object], expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        ControlPlaneConfig.model_validate({"remote_write": [entry], "metrics": metrics})


def test_two_queues_need_two_names() -> None:
    with pytest.raises(ValidationError, match="unique remote_write names"):
        ControlPlaneConfig.model_validate({"remote_write": [{"url": URL}, {"url": URL}]})

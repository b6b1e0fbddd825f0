"""The `events:` section of safeship.yaml: streams and field paths, errors at file:line:key."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.config.loader import load_control_plane
from safeship.core.errors import ConfigError

GOOD = """\
events:
  grace: 90s
  streams:
    - name: payments
      source: {nats: {stream: EVENTS, subject: events.payments}}
      fields:
        timestamp: meta.ts
        latency: took_us
        latencyUnit: us
        values: [risk.score]
        labels: {region: geo.region}
"""


def test_a_stream_with_its_field_paths_loads(tmp_path: Path) -> None:
    path = tmp_path / "safeship.yaml"
    path.write_text(GOOD)
    events = load_control_plane(path).events
    (stream,) = events.streams
    assert (events.grace, stream.source.kind, stream.fields.latency_unit) == (90.0, "nats", "us")
    assert stream.fields.labels == {"region": "geo.region"}
    assert events.retention_s == {60: 86400.0, 300: 604800.0, 3600: 2592000.0}


@pytest.mark.parametrize(
    ("text", "line", "key", "found"),
    [
        (GOOD.replace("meta.ts", "meta..ts"), 7, "events.streams[0].fields.timestamp", "meta..ts"),
        (
            GOOD.replace("region: geo", "service: geo"),
            11,
            "events.streams[0].fields.labels",
            "service",
        ),
        (
            GOOD.replace("latencyUnit: us", "latencyUnit: h"),
            9,
            "events.streams[0].fields.latencyUnit",
            "'h'",
        ),
        (
            GOOD.replace("{nats: {stream: EVENTS, subject: events.payments}}", "{}"),
            5,
            "events.streams[0].source",
            "none",
        ),
        (
            GOOD.replace("name: payments", "name: Pay Ments"),
            4,
            "events.streams[0].name",
            "Pay Ments",
        ),
        (GOOD.replace("grace: 90s", "grace: soon"), 2, "events.grace", "soon"),
        (GOOD + "  retention: {1d: 30d}\n", 12, "events.retention", "1d"),
    ],
)
def test_mistakes_are_reported_at_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, found: str
) -> None:
    path = tmp_path / "safeship.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_control_plane(path)
    (issue,) = caught.value.issues
    assert (issue.line, issue.key) == (line, key)
    assert found in issue.found

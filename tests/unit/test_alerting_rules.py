"""Rule files: valid ones load; every mistake is named by file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.alerting.rule_files import load_rule_file
from safeship.core.errors import ConfigError

GOOD = """\
groups:
  - name: slo
    interval: 30s
    rules:
      - record: job:errors:rate5m
        expr: sum by (job) (rate(errors_total[5m]))
      - alert: HighErrors
        expr: job:errors:rate5m > 1
        for: 5m
        keep_firing_for: 10m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} at {{ $value | humanize }}"}
"""


def test_a_valid_file_loads_with_durations_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(GOOD)
    group = load_rule_file(path).groups[0]
    assert group.interval == 30.0
    assert [r.name for r in group.rules] == ["job:errors:rate5m", "HighErrors"]
    assert (group.rules[1].for_, group.rules[1].keep_firing_for) == (300.0, 600.0)


RULE = "groups:\n  - name: g\n    rules:\n      - "


@pytest.mark.parametrize(
    ("body", "line", "key", "says"),
    [
        ("alert: A\n        expr: rate(x[5m]", 5, "groups[0].rules[0].expr", "PromQL"),
        ("alert: A\n        expr: up\n        for: soon", 6, "groups[0].rules[0].for", "duration"),
        ("record: bad name\n        expr: up", 4, "groups[0].rules[0].record", "metric name"),
        ("alert: A\n        record: b\n        expr: up", 4, "groups[0].rules[0]", "exactly one"),
        ("record: r\n        expr: up\n        for: 1m", 4, "groups[0].rules[0]", "recording"),
        (
            "alert: A\n        expr: up\n        labels: {__x: y}",
            6,
            "groups[0].rules[0].labels",
            "label",
        ),
        (
            "alert: A\n        expr: up\n        annotations: {a: '{{ nope $value }}'}",
            6,
            "groups[0].rules[0].annotations.a",
            "template",
        ),
        ("alert: A\n        expr: up\n        fro: 1m", 6, "groups[0].rules[0].fro", "documented"),
        ("alert: A", 4, "groups[0].rules[0].expr", "nothing"),
    ],
)
def test_mistakes_name_file_line_and_key(
    tmp_path: Path, body: str, line: int, key: str, says: str
) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(RULE + body + "\n")
    with pytest.raises(ConfigError) as caught:
        load_rule_file(path)
    text = str(caught.value)
    assert f"{path}:{line}: key '{key}'" in text
    assert says in text


def test_duplicate_group_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yml"
    path.write_text("groups:\n  - name: g\n  - name: g\n")
    with pytest.raises(ConfigError, match="unique group names"):
        load_rule_file(path)

"""promtool's test-file format: expanding notation, comparison, reports, malformed files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from safeship.alerting.rule_tests import report, run_file
from safeship.core.errors import ConfigError
from safeship.core.labels import is_stale
from safeship.metrics.series_notation import expand_values, format_go_e, parse_series


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 2 3", [1.0, 2.0, 3.0]),
        ("1+2x3", [1.0, 3.0, 5.0, 7.0]),
        ("10-1x2", [10.0, 9.0, 8.0]),
        ("0x3", [0.0, 0.0, 0.0, 0.0]),
        ("_ 1 _x2 2", [None, 1.0, None, None, 2.0]),
        ("-1+1x2", [-1.0, 0.0, 1.0]),
        ("1e3 Inf -Inf", [1000.0, math.inf, -math.inf]),
    ],
)
def test_expanding_notation_matches_promtool(text: str, expected: list[float | None]) -> None:
    assert expand_values(text) == expected


def test_stale_expands_to_the_staleness_marker() -> None:
    (value,) = expand_values("stale")
    assert value is not None and is_stale(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1E+00"), (1 / 15, "6.666666666666667E-02"), (math.inf, "+Inf"), (-2.5e-7, "-2.5E-07")],
)
def test_values_print_like_go(value: float, text: str) -> None:
    assert format_go_e(value) == text


def test_series_strings_parse_to_label_sets() -> None:
    assert parse_series('up{job="a"}') == (("__name__", "up"), ("job", "a"))
    assert parse_series("{}") == ()


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.yml"
    path.write_text(body)
    return path


GOOD = """
tests:
  - interval: 1m
    input_series:
      - series: 'c{x="1"}'
        values: '0+60x10'
    promql_expr_test:
      - expr: rate(c[5m])
        eval_time: 10m
        exp_samples:
          - labels: '{x="1"}'
            value: 1
"""


def test_matching_expectations_pass(tmp_path: Path) -> None:
    result = run_file(_write(tmp_path, GOOD))
    assert result.passed, report(result)


def test_a_wrong_expectation_fails_with_promtool_style_output(tmp_path: Path) -> None:
    result = run_file(_write(tmp_path, GOOD.replace("value: 1", "value: 2")))
    assert not result.passed
    assert 'expr: "rate(c[5m])", time: 10m,' in report(result)
    assert 'got: {x="1"} 1E+00' in report(result)


def test_a_malformed_file_names_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        run_file(_write(tmp_path, GOOD.replace("eval_time: 10m", "eval_time: soon")))
    issue = info.value.issues[0]
    assert (issue.key, issue.line) == ("eval_time", 9)

"""Annotation templating: the Prometheus subset prints exactly what Go's text/template does."""

from __future__ import annotations

import math

import pytest

from safeship.alerting.templates import TemplateError, check, expand, go_float, humanize

LABELS = {"__name__": "up", "job": "api", "instance": "a:80"}


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("{{ $labels.job }} down", 0.0, "api down"),
        ("{{ .Labels.instance }}", 0.0, "a:80"),
        ("{{ $value }}", 0.25, "0.25"),
        ("{{ .Value }}", 1e6, "1e+06"),
        ("{{ $value | humanize }}", 2_500_000.0, "2.5M"),
        ("{{ humanize $value }}", 0.0123, "12.3m"),
        ('{{ printf "%.2f" $value }}', 1 / 3, "0.33"),
        ('{{ $value | printf "%.1f%%" }}', 99.95, "100.0%"),
        ('{{ printf "%s=%v" $labels.job $value }}', 3.0, "api=3"),
        ("{{ $labels }}", 0.0, "map[__name__:up instance:a:80 job:api]"),
        ("{{ $labels.missing }}", 0.0, ""),  # missingkey=zero, as Prometheus sets it
        ("{{ $labels.job | toUpper }}", 0.0, "API"),
        ("a  {{- $labels.job -}}  b", 0.0, "aapib"),
        ("no actions", 7.0, "no actions"),
    ],
)
def test_templates_expand_like_prometheus(text: str, value: float, expected: str) -> None:
    assert expand(text, labels=LABELS, value=value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (1234.0, "1.234k"),
        (999.0, "999"),
        (1e9, "1G"),
        (0.5, "500m"),
        (2e-6, "2u"),
        (-2500.0, "-2.5k"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_humanize_uses_si_prefixes_and_four_digits(value: float, expected: str) -> None:
    assert humanize(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100.0, "100"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e-5, "1e-05"),
        (-0.5, "-0.5"),
    ],
)
def test_values_print_like_go_percent_v(value: float, expected: str) -> None:
    assert go_float(value) == expected


@pytest.mark.parametrize(
    "text", ["{{ eval $value }}", "{{ $undefined }}", "{{ }}", '{{ "unclosed }}']
)
def test_anything_outside_the_subset_is_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        check(text)

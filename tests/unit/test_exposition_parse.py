"""Exposition parsing: text format 0.0.4 and OpenMetrics, as Prometheus reads them."""

from __future__ import annotations

import math

import pytest

from safeship.core.labels import NAME
from safeship.metrics.exposition import ExpositionError, is_openmetrics, parse, parse_series

TEXT = """\
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",\
error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
braces{v="a}b{c"} -Inf
nan_value NaN
"""

OPENMETRICS = """\
# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo counter
foo_total 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67
# TYPE gauge_thing gauge
gauge_thing_created 5
# EOF
"""


def test_text_format_values_timestamps_and_escapes() -> None:
    got = parse(TEXT)
    assert len(got) == 7
    assert got.timestamps[:2] == [1395066363000, 1395066363000]
    assert got.values[4] == math.inf and got.timestamps[4] == -3982045
    assert got.values[5] == -math.inf and math.isnan(got.values[6])
    labels = dict(parse_series(got.keys[2]))
    assert labels["path"] == "C:\\DIR\\FILE.TXT"
    assert labels["error"] == 'Cannot find file:\n"FILE.TXT"'
    assert dict(parse_series(got.keys[5]))["v"] == "a}b{c"


def test_openmetrics_seconds_exemplars_and_created_series() -> None:
    got = parse(OPENMETRICS, openmetrics=True)
    names = [dict(parse_series(k))[NAME] for k in got.keys]
    # _created of a summary/counter is a creation time, not a series; of a gauge it is data.
    assert names == [
        "acme_http_router_request_seconds_sum",
        "acme_http_router_request_seconds_count",
        "foo_total",
        "gauge_thing_created",
    ]
    assert got.timestamps[2] == 1520879607789
    assert got.values[2] == 17.0


@pytest.mark.parametrize(
    ("body", "openmetrics", "problem"),
    [
        ("foo 1\n", True, "# EOF"),
        ("foo 1\n# EOF\nbar 2\n", True, "after # EOF"),
        ("foo\n", False, "expected a value"),
        ("foo abc\n", False, "expected a number"),
        ('foo{a="b} 1\n', False, "unterminated"),
        ("foo 1 2 3\n", False, "VALUE [TIMESTAMP]"),
        ("foo 1 1.5\n", False, "timestamp"),
    ],
)
def test_malformed_bodies_name_the_line_and_problem(
    body: str, openmetrics: bool, problem: str
) -> None:
    with pytest.raises(ExpositionError, match="line") as caught:
        parse(body, openmetrics=openmetrics)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("up", {NAME: "up"}),
        ('up{job="a",instance="b:1",}', {NAME: "up", "job": "a", "instance": "b:1"}),
        ('x{ a = "1" , b="" }', {NAME: "x", "a": "1"}),  # empty value means absent
    ],
)
def test_series_text_becomes_labels(key: str, expected: dict[str, str]) -> None:
    assert dict(parse_series(key)) == expected


@pytest.mark.parametrize("key", ['1bad{a="b"}', 'x{a="1",a="2"}', "x{a=1}"])
def test_bad_series_text_is_refused(key: str) -> None:
    with pytest.raises(ExpositionError):
        parse_series(key)


def test_content_type_decides_the_format() -> None:
    assert is_openmetrics("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert not is_openmetrics("text/plain; version=0.0.4")
    assert not is_openmetrics(None)

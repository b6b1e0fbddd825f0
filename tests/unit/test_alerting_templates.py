"""Alert templates print exactly what Prometheus's Go text/template prints.

Expectations here were checked against promtool 2.42 (the conformance suite runs the same
kinds of templates through promtool itself); these tables pin the parser, the executor and
Go's formatting one behaviour at a time.
"""

from __future__ import annotations

import math

import pytest

from safeship.alerting.templates import Env, Func, TemplateError, check, expand, render
from safeship.alerting.templates.functions import (
    humanize,
    humanize_1024,
    humanize_duration,
    parse_duration,
    re_replace_all,
    strip_domain,
    strip_port,
    title,
)
from safeship.alerting.templates.gofmt import go_float, sprintf

LABELS = {"__name__": "up", "job": "api", "instance": "web-1.example.com:9100"}


def _expand(text: str, value: float = 0.25, env: Env | None = None) -> str:
    return expand(text, labels=LABELS, value=value, alert="A", env=env)


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("{{ $labels.job }} down", 0.0, "api down"),
        ("{{ .Labels.instance }}", 0.0, "web-1.example.com:9100"),
        ("{{ $value }}|{{ .Value }}|{{ $.Value }}", 1e6, "1e+06|1e+06|1e+06"),
        ("{{ $labels }}", 0.0, "map[__name__:up instance:web-1.example.com:9100 job:api]"),
        ("{{ $labels.missing }}|{{ index $labels `missing` }}", 0.0, "|"),  # missingkey=zero
        ("a  {{- $labels.job -}}  b", 0.0, "aapib"),
        ("a {{- /* note */ -}} b{{/* x */}}", 0.0, "ab"),
        (
            "{{ if gt $value 1.0 }}big{{ else if gt $value 0.5 }}mid{{ else }}small{{ end }}",
            0.7,
            "mid",
        ),
        ("{{ range $k, $v := $labels }}{{ $k }};{{ end }}", 0.0, "__name__;instance;job;"),
        (
            "{{ range $labels }}{{ break }}{{ end }}"
            "{{ range $externalLabels }}x{{ else }}none{{ end }}",
            0,
            "none",
        ),
        ("{{ with $labels.job }}job={{ . }}{{ else }}-{{ end }}", 0.0, "job=api"),
        ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", 0.0, "2"),
        ('{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" $labels.job }}', 0.0, "<api>"),
        ('{{ block "b" . }}{{ .Value }}{{ end }}', 3.0, "3"),
        (
            '{{ printf "%s/%s" (toUpper $labels.job) ($labels.instance | stripPort) }}',
            0,
            "API/web-1.example.com",
        ),
        (
            "{{ and 1 0 2 }} {{ or 0 `` 3 }} {{ not 0 }} {{ eq 1 2 1 }} {{ lt `a` `b` }}",
            0,
            "0 3 true true true",
        ),
        (
            "{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 0x1F }} {{ 017 }} {{ 'a' }} {{ -2 }}",
            0.0,
            "1 1.5 1000 31 15 97 -2",
        ),
        ('{{ "tab\\t" }}{{ `raw\\t` }}', 0.0, "tab\traw\\t"),
        ("{{ (args 1 `x`).arg1 }} {{ len $labels }} {{ index `abc` 1 }}", 0.0, "x 3 98"),
        ("{{ humanize1024 1048576 }} {{ humanizePercentage 0.1234 }}", 0.0, "1Mi 12.34%"),
        (
            "{{ humanizeDuration 90061.5 }} {{ humanizeTimestamp 1.5 }}",
            0.0,
            "1d 1h 1m 1s 1970-01-01 00:00:01.5 +0000 UTC",
        ),
        (
            '{{ reReplaceAll "(\\\\w+)-(\\\\d+)" "$2:$1" $labels.instance }}',
            0,
            "1:web.example.com:9100",
        ),
        (
            "{{ title `hello wORLD` }} {{ toLower `ÉA` }} {{ match `^web` $labels.instance }}",
            0,
            "Hello WORLD éa true",
        ),
        ("{{ graphLink `up > 0` }}", 0.0, "/graph?g0.expr=up+%3E+0&g0.tab=0"),
        (
            '{{ html `<a href="x">` }} {{ js `it\'s` }} {{ urlquery `a b&c` }}',
            0,
            "&lt;a href=&#34;x&#34;&gt; it\\'s a+b%26c",
        ),
        (
            "{{ safeHtml `<b>` }} {{ parseDuration `1h30m` }} {{ print 1 2 `x` 3 }}",
            0,
            "<b> 5400 1 2x3",
        ),
        ("no actions at all", 7.0, "no actions at all"),
    ],
)
def test_templates_expand_like_prometheus(text: str, value: float, expected: str) -> None:
    assert _expand(text, value) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            '{{ humanize "abc" }}',
            'at <humanize "abc">: error calling humanize: '
            'strconv.ParseFloat: parsing "abc": invalid syntax',
        ),
        (
            "{{ $value | toUpper }}",
            "at <toUpper>: wrong type for value; expected string; got float64",
        ),
        ("{{ toUpper 12 }}", "at <12>: expected string; found 12"),
        ("{{ humanize }}", "at <humanize>: wrong number of args for humanize: want 1 got 0"),
        (
            "{{ eq $value 1 }}",
            "at <eq $value 1>: error calling eq: incompatible types for comparison",
        ),
        ("{{ $value.Foo }}", "at <$value.Foo>: can't evaluate field Foo in type float64"),
        ("{{ range $value }}{{ end }}", "at <$value>: range can't iterate over 0.25"),
        (
            "{{ first (query `absent`) }}",
            "error calling first: first() called on vector with no elements",
        ),
        ("{{ externalURL }}", "error calling externalURL: runtime error: invalid memory address"),
        ("x\n {{ index $labels 1 }}", "A:2:4: executing"),
    ],
)
def test_execution_errors_read_like_go(text: str, error: str) -> None:
    env = Env(query=lambda expr: [])
    with pytest.raises(TemplateError) as caught:
        _expand(text, env=env)
    assert str(caught.value).startswith("error executing template __alert_A: template: __alert_A:")
    assert error in str(caught.value)


def test_error_positions_count_the_prelude_prometheus_prepends() -> None:
    with pytest.raises(TemplateError) as caught:
        _expand('{{ humanize "x" }}')
    assert "__alert_A:1:115: executing" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ humanise $value }}", 'function "humanise" not defined'),
        ("{{ tmpl `x` . }}", 'function "tmpl" not defined'),  # console templates only
        ("{{ $undefined }}", 'undefined variable "$undefined"'),
        ("{{ $value ", "unclosed action"),
        ("{{ if $value }}x", "unexpected EOF"),
        ("x{{ end }}", "unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ }}", "missing value for command"),
        ("{{ if }}", "missing value for if"),
        ("{{ 12abc }}", 'bad number syntax: "12a"'),
        ('{{ "abc }}', "unterminated quoted string"),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ $value | 3 }}", "non executable command in pipeline stage 2"),
        ("{{ (humanize $value }}", "unclosed left paren"),
        ("{{ humanize $value) }}", 'unexpected ")" in command'),
        ("{{/* x */ $value }}", "comment ends before closing delimiter"),
        ("{{ $value | humanize # }}", 'unexpected "#" in operand'),
        ("{{ template x }}", 'unexpected "x" in template clause'),
        ("line\n{{ if $value }}\n{{ nope }}{{ end }}", "__alert_A:3: function"),
    ],
)
def test_templates_prometheus_refuses_do_not_parse(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check(text, alert="A")
    assert message in str(caught.value)
    assert str(caught.value).startswith("template: __alert_A:")


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%v %.2f %5.1f|%-6.1f|", [1.5, 1 / 3, 2.25, 2.25], "1.5 0.33   2.2|2.2   |"),
        ("%e %g %G %.3g", [1234.5, 1e21, 1e-7, 123456.0], "1.234500e+03 1e+21 1E-07 1.23e+05"),
        (
            "%d %x %X %o %b %c %q %U",
            [255, 255, 255, 8, 5, 65, 66, 0x1F600],
            "255 ff FF 10 101 A 'B' U+1F600",
        ),
        (
            "%s %q %x %10s|%-4s|%.2s",
            ["é", 'a"b', "hi", "r", "l", "abc"],
            'é "a\\"b" 6869          r|l   |ab',
        ),
        ("%d %s %t", [1.5, 2.0, 1], "%!d(float64=1.5) %!s(float64=2) %!t(int=1)"),
        ("%v %v", [1], "1 %!v(MISSING)"),
        ("%v", [1, "x", None], "1%!(EXTRA string=x, <nil>)"),
        ("%f %+v % .1e %08.3f", [math.nan, math.inf, math.inf, -1.5], "NaN +Inf  Inf -001.500"),
        ("%x %T %T %%", [1.0, 1.0, "s"], "0x1p+00 float64 string %"),
        ("%v %v %v", [True, None, {"b": "2", "a": "1"}], "true <nil> map[a:1 b:2]"),
    ],
)
def test_printf_speaks_go_verbs(fmt: str, args: list[object], expected: str) -> None:
    assert sprintf(fmt, args) == expected


@pytest.mark.parametrize(
    ("value", "si", "iec", "duration"),
    [
        (0.0, "0", "0", "0s"),
        (1234.0, "1.234k", "1.205ki", "20m 34s"),
        (0.5, "500m", "0.5", "500ms"),
        (2e-6, "2u", "2e-06", "2us"),
        (-2500.0, "-2.5k", "-2.441ki", "-41m 40s"),
        (1e30, "1e+06Y", "8.272e+05Yi", "-106751991167300d -15h -30m -8s"),  # Go's int64 overflow
        (math.inf, "+Inf", "+Inf", "+Inf"),
        (-math.inf, "-Inf", "-Inf", "-Inf"),
        (math.nan, "NaN", "NaN", "NaN"),
        (59.99, "59.99", "59.99", "59.99s"),
    ],
)
def test_humanize_family_matches_prometheus(value: float, si: str, iec: str, duration: str) -> None:
    assert (humanize(value), humanize_1024(value), humanize_duration(value)) == (si, iec, duration)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100.0, "100"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e-5, "1e-05"),
        (-0.0, "-0"),
    ],
)
def test_values_print_like_go_percent_v(value: float, expected: str) -> None:
    assert go_float(value) == expected


@pytest.mark.parametrize(
    ("function", "argument", "expected"),
    [
        (strip_port, "[2001:db8::1]:9100", "2001:db8::1"),
        (strip_port, "host:with:colons", "host:with:colons"),
        (strip_domain, "db.internal:5432", "db:5432"),
        (strip_domain, "10.0.0.1:80", "10.0.0.1:80"),
        (title, "ops_team.2 x-y", "Ops_team.2 X-Y"),
        (parse_duration, "1y2w3d4h5m6s7ms", 33_019_506.007),
    ],
)
def test_string_functions_follow_go(function: object, argument: str, expected: object) -> None:
    assert function(argument) == expected  # type: ignore[operator]


def test_replace_all_skips_an_empty_match_right_after_a_match_like_go() -> None:
    assert re_replace_all("x*", "-", "abxd") == "-a-b-d-"  # Python's re.sub gives -a-b--d-


def test_query_runs_through_the_injected_function() -> None:
    seen: list[str] = []

    def query(expr: str) -> list[tuple[tuple[tuple[str, str], ...], float]]:
        seen.append(expr)
        return [((("instance", "b"),), 2.0), ((("instance", "a"),), 1.0)]

    text = (
        '{{ range query "up" | sortByLabel "instance" }}'
        '{{ label "instance" . }}={{ value . }} {{ end }}'
    )
    assert _expand(text, env=Env(query=query)) == "a=1 b=2 "
    assert seen == ["up"]


def test_external_url_and_labels_come_from_the_env() -> None:
    env = Env(external_url="https://prom.example.com/sub", external_labels={"region": "eu"})
    text = "{{ externalURL }} {{ pathPrefix }} {{ $externalURL }} {{ $externalLabels.region }}"
    assert (
        _expand(text, env=env)
        == "https://prom.example.com/sub /sub https://prom.example.com/sub eu"
    )


def test_render_takes_any_data_and_extra_functions() -> None:
    shout = Func(("string",), lambda text: text.upper() + "!")
    data = {"status": "firing", "alerts": ["a", "b"]}
    text = "{{ .status | shout }} {{ range $i, $a := .alerts }}{{ $i }}{{ $a }}{{ end }}"
    assert render(text, data=data, functions={"shout": shout}) == "FIRING! 0a1b"


def test_data_methods_are_called_before_fields_like_go() -> None:
    class Alerts(list[str]):
        def go_method(self, name: str) -> tuple[tuple[str, ...], object] | None:
            if name == "Firing":
                return (), lambda: Alerts(a for a in self if a.startswith("f"))
            if name == "Has":
                return ("string",), lambda prefix: any(a.startswith(prefix) for a in self)
            return None

    data = {"Alerts": Alerts(["f1", "r1", "f2"])}
    text = '{{ range .Alerts.Firing }}{{ . }} {{ end }}{{ .Alerts.Has "r" }} {{ len .Alerts }}'
    assert render(text, data=data) == "f1 f2 true 3"
    with pytest.raises(TemplateError, match="wrong number of args for Has: want 1 got 0"):
        render("{{ .Alerts.Has }}", data=data)


def test_render_reports_go_errors_with_the_template_name() -> None:
    with pytest.raises(TemplateError, match=r'^template: notify:1: function "nope" not defined$'):
        render("{{ nope }}", data={}, name="notify")

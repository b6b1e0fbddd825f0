"""Rule unit tests in promtool's file format: load input series, evaluate, compare.

`safeship rules test FILE` runs this; the conformance suite runs the same files through
`promtool test rules` to prove the expectations are Prometheus's. Comparison is promtool's:
sample sets equal irrespective of order, labels exact, floats exactly equal.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from safeship.alerting.evaluator import RuleState, firing
from safeship.alerting.group import GroupState, evaluate_group
from safeship.alerting.rule_files import load_rule_file
from safeship.alerting.rules import RuleGroup
from safeship.alerting.templates import Env
from safeship.config.documents import compose_file, node_issue
from safeship.core.durations import parse_duration
from safeship.core.errors import ConfigError, ConfigIssue
from safeship.core.labels import Labels, make_labels
from safeship.metrics.promql import Engine, PromQLError, Scalar, Vector
from safeship.metrics.series_notation import (
    NotationError,
    expand_values,
    format_duration,
    format_go_e,
    parse_series,
)
from safeship.metrics.store import SeriesStore

Sample = tuple[Labels, float]


@dataclass(frozen=True)
class ExprTest:
    expr: str
    eval_ms: int
    expected: list[Sample]


@dataclass(frozen=True)
class AlertTest:
    alertname: str
    eval_ms: int
    expected: list[tuple[Labels, Labels]]  # (labels incl. alertname, annotations)


@dataclass(frozen=True)
class TestGroup:
    name: str
    interval_ms: int
    series: list[tuple[Labels, list[float | None]]]
    exprs: list[ExprTest]
    alerts: list[AlertTest] = field(default_factory=list)
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""


@dataclass(frozen=True)
class TestFile:
    eval_interval_ms: int
    rule_groups: list[RuleGroup]
    groups: list[TestGroup]


@dataclass
class FileResult:
    path: str
    groups: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


# -- loading ---------------------------------------------------------------------------------
def load_file(path: str | Path) -> TestFile:
    """The test file and the rule files it names; ConfigError (file:line:key) when malformed."""
    root = compose_file(Path(path))  # refuses hostile files, duplicate keys, bad YAML
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError([ConfigIssue(str(path), 1, "", "no mapping", "a promtool test file")])
    return _Loader(str(path)).file(root)


class _Loader:
    """Walks promtool's schema over the node tree (config/documents.py composed it), so
    every error names its line and scalars keep promtool's raw text (`value: 0x10`)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node, key: str, found: str, expected: str) -> ConfigError:
        return node_issue(self.path, node, key=key, found=found, expected=expected)

    def mapping(self, node: yaml.Node, key: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, type(node).__name__, "a mapping")
        return {str(k.value): v for k, v in node.value}

    def seq(self, node: yaml.Node | None, key: str) -> list[yaml.Node]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value in ("", "null")):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, key, type(node).__name__, "a list")
        return list(node.value)

    def scalar(self, node: yaml.Node | None, key: str, default: str | None = None) -> str:
        if node is None:
            if default is None:
                raise ConfigError([ConfigIssue(self.path, None, key, "nothing", "a value")])
            return default
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, type(node).__name__, "a scalar")
        return str(node.value)

    def duration_ms(self, node: yaml.Node | None, key: str, default: str) -> int:
        text = self.scalar(node, key, default)
        try:
            return round(parse_duration(text) * 1000)
        except ValueError:
            raise self.fail(node, key, repr(text), "a duration like 1m") from None  # type: ignore[arg-type]

    def file(self, root: yaml.Node) -> TestFile:
        top = self.mapping(root, "")
        rule_groups = [
            g for n in self.seq(top.get("rule_files"), "rule_files") for g in self.rules(n)
        ]
        rule_groups = self.ordered(rule_groups, top.get("group_eval_order"))
        interval = self.duration_ms(top.get("evaluation_interval"), "evaluation_interval", "1m")
        groups = [
            self.group(n, i, interval) for i, n in enumerate(self.seq(top.get("tests"), "tests"))
        ]
        return TestFile(interval, rule_groups, groups)

    def rules(self, node: yaml.Node) -> list[RuleGroup]:
        """Groups of the rule files an entry names (relative to this file, globs)."""
        pattern = str(Path(self.path).parent / self.scalar(node, "rule_files"))
        paths = sorted(glob.glob(pattern))
        if not paths:
            raise self.fail(node, "rule_files", repr(pattern), "an existing rule file")
        return [g for p in paths for g in load_rule_file(p).groups]

    def ordered(self, groups: list[RuleGroup], node: yaml.Node | None) -> list[RuleGroup]:
        """Groups in `group_eval_order` first, then the rest in file order.

        promtool evaluates groups it was not told to order in random order, so files that
        depend on a cross-group order must name it; within a group rules run in order."""
        order = [self.scalar(n, "group_eval_order") for n in self.seq(node, "group_eval_order")]
        known = {g.name for g in groups}
        for n, name in zip(self.seq(node, "group_eval_order"), order, strict=True):
            if name not in known:
                raise self.fail(n, "group_eval_order", repr(name), "a group of the rule files")
        rank = {name: i for i, name in enumerate(order)}
        return sorted(groups, key=lambda g: rank.get(g.name, len(order)))

    def group(self, node: yaml.Node, index: int, default_ms: int) -> TestGroup:
        body = self.mapping(node, f"tests[{index}]")
        alerts = [self.alert(n) for n in self.seq(body.get("alert_rule_test"), "alert_rule_test")]
        interval = self.duration_ms(body.get("interval"), "interval", f"{default_ms}ms")
        series = [self.series(n) for n in self.seq(body.get("input_series"), "input_series")]
        exprs = [self.expr(n) for n in self.seq(body.get("promql_expr_test"), "promql_expr_test")]
        name = self.scalar(body.get("name"), "name", "")
        labels = self.strings(body.get("external_labels"), "external_labels")
        url = self.scalar(body.get("external_url"), "external_url", "")
        return TestGroup(name, interval, series, exprs, alerts, labels, url)

    def alert(self, node: yaml.Node) -> AlertTest:
        body = self.mapping(node, "alert_rule_test")
        name = self.scalar(body.get("alertname"), "alertname")
        eval_ms = self.duration_ms(body.get("eval_time"), "eval_time", "0s")
        expected = [self.exp_alert(n, name) for n in self.seq(body.get("exp_alerts"), "exp_alerts")]
        return AlertTest(name, eval_ms, expected)

    def exp_alert(self, node: yaml.Node, alertname: str) -> tuple[Labels, Labels]:
        body = self.mapping(node, "exp_alerts")
        labels = self.strings(body.get("exp_labels"), "exp_labels")
        notes = self.strings(body.get("exp_annotations"), "exp_annotations")
        # Annotations keep empty values (Prometheus's alerts do); labels drop them.
        return make_labels({**labels, "alertname": alertname}), tuple(sorted(notes.items()))

    def strings(self, node: yaml.Node | None, key: str) -> dict[str, str]:
        if node is None:
            return {}
        return {k: self.scalar(v, key) for k, v in self.mapping(node, key).items()}

    def series(self, node: yaml.Node) -> tuple[Labels, list[float | None]]:
        body = self.mapping(node, "input_series")
        try:
            labels = parse_series(self.scalar(body.get("series"), "series"))
            values = expand_values(self.scalar(body.get("values"), "values", ""))
        except NotationError as exc:
            raise self.fail(node, "input_series", str(exc), "promtool series notation") from None
        return labels, values

    def expr(self, node: yaml.Node) -> ExprTest:
        body = self.mapping(node, "promql_expr_test")
        expr = self.scalar(body.get("expr"), "expr")
        eval_ms = self.duration_ms(body.get("eval_time"), "eval_time", "0s")
        expected = [self.sample(n) for n in self.seq(body.get("exp_samples"), "exp_samples")]
        return ExprTest(expr, eval_ms, expected)

    def sample(self, node: yaml.Node) -> Sample:
        body = self.mapping(node, "exp_samples")
        try:
            labels = parse_series(self.scalar(body.get("labels"), "labels", ""))
            value = _yaml_float(self.scalar(body.get("value"), "value", "0"))
        except (NotationError, ValueError) as exc:
            raise self.fail(node, "exp_samples", str(exc), "labels and a float value") from None
        return labels, value


def _yaml_float(text: str) -> float:
    lowered = text.lower()
    specials = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
    return specials[lowered] if lowered in specials else float(text)


# -- running ---------------------------------------------------------------------------------
def run_file(path: str | Path) -> FileResult:
    """Every test group of a file; raises ConfigError when the file is malformed."""
    loaded = load_file(path)
    result = FileResult(str(path), groups=len(loaded.groups))
    for group in loaded.groups:
        result.failures.extend(
            run_group(group, eval_interval_ms=loaded.eval_interval_ms, rules=loaded.rule_groups)
        )
    return result


def run_group(
    group: TestGroup, *, eval_interval_ms: int, rules: list[RuleGroup] | None = None
) -> list[str]:
    store = load_store(group)
    engine = Engine(store, default_step=60.0)
    failures = _run_rules(group, rules or [], store=store, engine=engine, step_ms=eval_interval_ms)
    return failures + [msg for case in group.exprs if (msg := check(engine, case)) is not None]


def load_store(group: TestGroup) -> SeriesStore:
    """A store holding the group's input series, as promtool loads them."""
    store = SeriesStore()
    for labels, values in group.series:
        for step, value in enumerate(values):
            if value is not None:
                store.append(labels, step * group.interval_ms, value)
    return store


def _run_rules(
    group: TestGroup, rules: list[RuleGroup], *, store: SeriesStore, engine: Engine, step_ms: int
) -> list[str]:
    """promtool's loop: evaluate every rule group each interval from 0 up to the last
    eval_time; an alert test is checked after the last evaluation at or before its time."""
    times = [c.eval_ms for c in group.exprs] + [a.eval_ms for a in group.alerts]
    pending = sorted(group.alerts, key=lambda a: a.eval_ms)
    states = [GroupState() for _ in rules]
    # promtool gives templates the group's external labels and URL ($externalURL) but no
    # URL to externalURL(); an Env without external_url fails there the same way.
    env = Env(external_labels=group.external_labels, url_variable=group.external_url)
    failures: list[str] = []
    for now in range(0, max(times, default=-1) + 1, step_ms):
        for i, rule_group in enumerate(rules):
            ran = evaluate_group(
                rule_group, engine=engine, store=store, state=states[i], now_ms=now, env=env
            )
            states[i] = ran.state
        while pending and pending[0].eval_ms < now + step_ms:
            failures.extend(_check_alert(pending.pop(0), rules, states))
    return failures


def _check_alert(case: AlertTest, rules: list[RuleGroup], states: list[GroupState]) -> list[str]:
    got = sorted(
        (alert.labels, alert.annotations)
        for g, state in zip(rules, states, strict=True)
        for index, rule in enumerate(g.rules)
        if rule.alert == case.alertname
        for alert in firing(state.alerts.get(index, RuleState()))
    )
    if got == sorted(case.expected):
        return []
    head = f"    alertname: {case.alertname}, time: {format_duration(case.eval_ms)}, "
    return [f"{head}\n        exp:{_alerts(sorted(case.expected))}, \n        got:{_alerts(got)}"]


def _alerts(alerts: list[tuple[Labels, Labels]]) -> str:
    inner = " ".join(f"{{Labels:{_braces(lb)} Annotations:{_braces(an)}}}" for lb, an in alerts)
    return f"[{inner}]"


def check(engine: Engine, case: ExprTest) -> str | None:
    """None when the expression gives the expected samples, else promtool's failure text."""
    head = f'    expr: "{case.expr}", time: {format_duration(case.eval_ms)},'
    try:
        got = _samples(engine.instant(case.expr, case.eval_ms / 1000))
    except PromQLError as exc:
        return f"{head} err: {exc}"
    if same_samples(case.expected, got):
        return None
    return f"{head}\n        exp: {render(case.expected)}\n        got: {render(got)}"


def _samples(value: object) -> list[Sample]:
    if isinstance(value, Scalar):
        return [((), value.value)]
    if isinstance(value, Vector):
        return value.samples()
    raise PromQLError("rule result is not a vector or scalar")


def same_samples(expected: list[Sample], got: list[Sample]) -> bool:
    """promtool's comparison: same label sets, bit-equal floats (NaN never equals NaN)."""
    if len(expected) != len(got):
        return False
    pairs = zip(sorted(expected, key=_key), sorted(got, key=_key), strict=True)
    return all(a[0] == b[0] and a[1] == b[1] for a, b in pairs)


def _key(sample: Sample) -> tuple[Labels, float]:
    return sample[0], sample[1]


def render(samples: list[Sample]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{_braces(lbl)} {format_go_e(v)}" for lbl, v in sorted(samples, key=_key))


def _braces(labels: Labels) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels)
    return f"{{{inner}}}"


def report(result: FileResult) -> str:
    """promtool-like text for one file."""
    lines = [f"Unit Testing:  {result.path}"]
    lines.append("  SUCCESS" if result.passed else "  FAILED:")
    lines.extend(result.failures)
    return "\n".join(lines)


def count_expr_tests(path: str | Path) -> int:
    data: Any = yaml.safe_load(Path(path).read_text()) or {}
    return sum(len(g.get("promql_expr_test") or []) for g in data.get("tests") or [])


def count_alert_tests(path: str | Path) -> int:
    data: Any = yaml.safe_load(Path(path).read_text()) or {}
    return sum(len(g.get("alert_rule_test") or []) for g in data.get("tests") or [])

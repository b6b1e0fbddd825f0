"""PromQL and alerting conformance: every file here must pass real promtool AND safeship.

`alerts_*.yml` use the rule files in rules/ (recording rules, `alert_rule_test`); the
rule files themselves must pass `promtool check rules` and safeship's loader.

`templates_*.yml` run alert templates (every function, control structure and printf verb,
errors included) through both; their `exp_alerts` were produced by promtool (regen_alerts.py).
invalid/*.yml hold rule files whose templates Prometheus refuses at load: promtool check
rules and safeship's loader must refuse every one with the same message.

errors/*.yml hold queries Prometheus refuses: promtool 2.42 test files cannot expect an
error, so there every case must FAIL in promtool with an error, and safeship must fail the
same case with the same message (parse errors included, "1:4: parse error: ...").

promtool proves the expectations are Prometheus's own (see regen.py for how they were
produced); safeship's runner then has to reproduce them bit for bit. promtool missing is a
failure, not a skip: the suite means nothing without it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from safeship.alerting.rule_files import load_rule_file
from safeship.alerting.rule_tests import (
    count_alert_tests,
    count_expr_tests,
    load_file,
    report,
    run_file,
)
from safeship.core.errors import ConfigError

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("*.yml"))
RULE_FILES = sorted(HERE.glob("rules/*.yml"))
ERROR_FILES = sorted(HERE.glob("errors/*.yml"))
INVALID_RULE_FILES = sorted(HERE.glob("invalid/*.yml"))
_PROMTOOL_REFUSAL = re.compile(r': (label|annotation) "(\w+)": (.*)$', re.MULTILINE)
_PROMTOOL_ERR = re.compile(r'^    expr: (".*"), time: (\S+), err: (.*)$', re.MULTILINE)
_SAFESHIP_ERR = re.compile(r'^    expr: "(.*)", time: (\S+), err: (.*)$', re.MULTILINE)
PROMTOOL_VERSION = "2.42.0"


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, (
        "promtool is not installed (Debian package 'prometheus'; scripts/install-system.sh)"
    )
    return found


def test_promtool_is_the_version_the_expectations_came_from() -> None:
    out = subprocess.run([_promtool(), "--version"], capture_output=True, text=True, check=True)
    assert f"version {PROMTOOL_VERSION}" in out.stdout + out.stderr


def test_suite_has_at_least_150_expression_tests() -> None:
    assert sum(count_expr_tests(f) for f in FILES) >= 150


def test_suite_has_at_least_150_alert_rule_tests_with_templates() -> None:
    assert sum(count_alert_tests(f) for f in FILES) >= 150
    templated = sum(count_alert_tests(f) for f in FILES if f.stem.startswith("templates_"))
    assert templated >= 150


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_promtool_and_safeship_accept_the_rule_files(path: Path) -> None:
    run = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert load_rule_file(path).groups


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_promtool_passes(path: Path) -> None:
    run = subprocess.run(
        [_promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_safeship_passes(path: Path) -> None:
    result = run_file(path)
    assert result.passed, report(result)


@pytest.mark.parametrize("path", INVALID_RULE_FILES, ids=lambda p: p.stem)
def test_promtool_and_safeship_refuse_the_same_templates(path: Path) -> None:
    run = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode != 0
    promtool = {
        (kind, name): text
        for kind, name, text in _PROMTOOL_REFUSAL.findall(run.stdout + run.stderr)
    }
    with pytest.raises(ConfigError) as refused:
        load_rule_file(path)
    safeship = {}
    for issue in refused.value.issues:
        kind, name = issue.key.split(".")[-2:]
        safeship[(kind.removesuffix("s"), name)] = issue.found
    assert safeship == promtool
    assert len(promtool) >= 25


@pytest.mark.parametrize("path", ERROR_FILES, ids=lambda p: p.stem)
def test_promtool_and_safeship_refuse_alike(path: Path) -> None:
    cases = sum(len(g.exprs) for g in load_file(path).groups)
    run = subprocess.run(
        [_promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    promtool = {
        (json.loads(expr), time): message
        for expr, time, message in _PROMTOOL_ERR.findall(run.stdout + run.stderr)
    }
    assert len(promtool) == cases, "every case in an errors/ file must be a promtool error"
    failures = "\n".join(run_file(path).failures)
    safeship = {(expr, time): message for expr, time, message in _SAFESHIP_ERR.findall(failures)}
    assert safeship == promtool

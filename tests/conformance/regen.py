"""Fill `exp_samples` in conformance files from what real promtool computes.

Usage (from the repository root):

    .venv/bin/python tests/conformance/regen.py tests/conformance/*.yml

For every test group, the group alone is written to a temporary file and run through
`promtool test rules`; promtool prints the actual result of each failing expression
("got: ..."), and that result becomes the expectation. Nothing is typed by hand. Expressions
whose result promtool cannot express (NaN, errors) are reported so they can be rewritten.
Each group runs RUNS times: promtool loads input series in random order, so a float
aggregation across series can round differently from run to run; such expressions are
reported as unstable (use exactly representable data for them).
Run it after adding or changing expressions, then review the diff.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from safeship.core.durations import parse_duration
from safeship.core.labels import format_labels
from safeship.metrics.series_notation import format_duration, parse_series

PROMTOOL = "promtool"
RUNS = 30
_HEAD = re.compile(r'^    expr: (".*"), time: (\S+),(?: err: (.*))?$')
_SAMPLE = re.compile(r'(\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}) ([^,\s]+)')


def stable_failures(group: dict[str, Any], head: dict[str, Any]) -> tuple[dict[Any, str], set[Any]]:
    """promtool's failures for a group, and the (expr, time) keys that vary between runs."""
    runs = [promtool_failures(group, head) for _ in range(RUNS)]
    keys = set().union(*runs)
    unstable = {k for k in keys if len({r.get(k, "(passed)") for r in runs}) > 1}
    return runs[0], unstable


def promtool_failures(group: dict[str, Any], head: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(expr, time) -> promtool's `got:` line (or `err: ...`) for a single group."""
    doc = {**head, "tests": [group]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
        yaml.safe_dump(doc, tmp, sort_keys=False)
    run = subprocess.run([PROMTOOL, "test", "rules", tmp.name], capture_output=True, text=True)
    Path(tmp.name).unlink()
    return _parse(run.stdout + run.stderr)


def _parse(output: str) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    current: tuple[str, str] | None = None
    for line in output.splitlines():
        head = _HEAD.match(line)
        if head:
            current = (json.loads(head.group(1)), head.group(2))
            if head.group(3):
                found[current] = "err: " + head.group(3)
        elif current and line.strip().startswith("got:"):
            found[current] = line.strip()[4:].strip()
    return found


def to_samples(got: str) -> list[dict[str, Any]] | None:
    if got == "nil":
        return []
    out = []
    for labels, value in _SAMPLE.findall(got):
        number = float(value)
        if number != number:
            return None
        out.append({"labels": format_labels(parse_series(labels)), "value": number})
    return out


def regen(path: Path) -> int:
    doc = yaml.safe_load(path.read_text())
    head = _head(doc, path)
    problems = 0
    for group in doc["tests"]:
        failures, unstable = stable_failures(group, head)
        for case in group.get("promql_expr_test", []):
            key = (case["expr"], format_duration(round(parse_duration(case["eval_time"]) * 1000)))
            if key in unstable:
                print(f"{path}: {case['expr']} @ {case['eval_time']}: unstable in promtool")
                problems += 1
                continue
            got = failures.get(key)
            if got is None:
                continue
            samples = None if got.startswith("err:") else to_samples(got)
            if samples is None:
                print(f"{path}: {case['expr']} @ {case['eval_time']}: cannot express: {got}")
                problems += 1
            else:
                case["exp_samples"] = samples
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=120))
    return problems


def _head(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """The file's settings for a one-group copy in a temporary directory: rule files
    are made absolute because they are relative to the test file."""
    head = {k: doc[k] for k in ("group_eval_order",) if k in doc}
    rules = [str((path.parent / p).resolve()) for p in doc.get("rule_files") or []]
    return {
        "rule_files": rules,
        "evaluation_interval": doc.get("evaluation_interval", "1m"),
        **head,
    }


def main(paths: list[str]) -> int:
    problems = sum(regen(Path(p)) for p in paths)
    print(f"{len(paths)} files regenerated, {problems} expressions need rewriting")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

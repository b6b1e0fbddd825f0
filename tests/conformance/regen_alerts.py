"""Fill `exp_alerts` of alert_rule_test cases from what real promtool produces.

Usage (from the repository root):

    .venv/bin/python tests/conformance/regen_alerts.py tests/conformance/templates_*.yml

Every test group is written alone to a temporary file and run through `promtool test rules`;
for each failing case promtool prints the alerts it got (labels, and annotations expanded by
Prometheus's own template engine), and those become the case's `exp_alerts`. Nothing is
typed by hand and nothing comes from safeship. Write a case with `exp_alerts: [{}]` (or
anything), run this, review the diff. A file's leading comment lines are kept.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from safeship.alerting.templates.nodes import unquote
from safeship.core.durations import parse_duration
from safeship.metrics.series_notation import format_duration

PROMTOOL = "promtool"
_HEAD = re.compile(r"^    alertname: (.*), time: (\S+), $")
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def promtool_alerts(group: dict[str, Any], head: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(alertname, time) -> the alerts promtool got, for every failing case of one group."""
    doc = {**head, "tests": [group]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
        yaml.safe_dump(doc, tmp, sort_keys=False, allow_unicode=True)
    run = subprocess.run([PROMTOOL, "test", "rules", tmp.name], capture_output=True, text=True)
    Path(tmp.name).unlink()
    return parse_output(run.stdout + run.stderr)


def parse_output(output: str) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    key: tuple[str, str] | None = None
    in_got = False
    for line in output.splitlines():
        head = _HEAD.match(line)
        if head:
            key, in_got = (head.group(1), head.group(2)), False
            found[key] = []
        elif key and line.strip().startswith("got:"):
            in_got = True
        elif key and in_got and line.strip().startswith("Labels:"):
            labels = _pairs(line.strip()[len("Labels:") :])
            labels.pop("alertname", None)
            found[key].append({"exp_labels": labels})
        elif key and in_got and line.strip().startswith("Annotations:"):
            notes = _pairs(line.strip()[len("Annotations:") :])
            if notes:
                found[key][-1]["exp_annotations"] = notes
    return found


def _pairs(text: str) -> dict[str, str]:
    return {name: unquote(f'"{value}"') for name, value in _PAIR.findall(text)}


def regen(path: Path) -> int:
    source = path.read_text()
    comments = "".join(line for line in source.splitlines(keepends=True) if line.startswith("#"))
    doc = yaml.safe_load(source)
    head = {k: doc[k] for k in ("group_eval_order", "evaluation_interval") if k in doc}
    head["rule_files"] = [str((path.parent / p).resolve()) for p in doc.get("rule_files") or []]
    changed = 0
    for group in doc["tests"]:
        got = promtool_alerts(group, head)
        for case in group.get("alert_rule_test") or []:
            when = format_duration(round(parse_duration(case["eval_time"]) * 1000))
            alerts = got.get((case["alertname"], when))
            if alerts is not None:
                case["exp_alerts"] = alerts
                changed += 1
    body = yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)
    path.write_text(comments + body)
    return changed


def main(paths: list[str]) -> int:
    for name in paths:
        print(f"{name}: {regen(Path(name))} cases filled from promtool")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

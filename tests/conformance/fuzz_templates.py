"""Differential fuzzing of alert templates: random templates through promtool and safeship.

Usage (from the repository root):

    .venv/bin/python tests/conformance/fuzz_templates.py --seed 1 --count 400 [--soup]

Writes one alerting rule whose annotations are `count` random templates: well-formed
pipelines over Go's builtins and Prometheus's functions by default, or `--soup` (random
tokens, mostly refused). Then compares (1) the load-time refusals of `promtool check rules`
with safeship's loader, message for message, and (2) for the templates both accept, the
annotations `promtool test rules` expands with safeship's, alert by alert. It prints every
difference and exits 1 when there is one. Go pointer addresses (`[0xc000...]`) are masked;
results of `query` over several series come in storage order in Prometheus, so a template
that prints them unsorted may differ (use sortByLabel, as Prometheus's docs advise).
What it finds belongs in templates_misc.yml or invalid/templates.yml, checked by the suite.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from regen_alerts import parse_output

from safeship.alerting.evaluator import RuleState, firing
from safeship.alerting.group import GroupState, evaluate_group
from safeship.alerting.rule_files import load_rule_file
from safeship.alerting.rule_tests import load_file, load_store
from safeship.core.errors import ConfigError
from safeship.metrics.promql import Engine

OPERANDS = ["$value", ".Value", "$labels", "$labels.job", "$labels.nope", ".Labels.instance"]
OPERANDS += ['"str"', "`raw`", "1", "-3", "2.5", "1e3", "0", "true", "nil", ".", "$", "'x'"]
OPERANDS += ["$externalLabels", "0x1F", '"a b"', '"9100"', '"1.5"']
UNARY = ["humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "title"]
UNARY += ["humanizeTimestamp", "toUpper", "toLower", "stripPort", "stripDomain", "len", "not"]
UNARY += ["print", "println", "html", "js", "urlquery", "safeHtml", "parseDuration", "toTime"]
UNARY += ["first", "value", "strvalue", "args"]
BINARY = ["eq", "ne", "lt", "le", "gt", "ge", "and", "or", "index", "match", "label", "slice"]
BINARY += ["sortByLabel", "print"]
VERBS = ["%v", "%d", "%s", "%.2f", "%q", "%x", "%5.1f", "%v %v", "%T", "%-4v|", "%+d", "%e"]
QUERIES = ["sort(m)", "sum(m)", "absent_x", "m > 1", "vector(2)", "scalar(m)"]
SOUP = ["{{", "}}", "{{- ", " -}}", " ", "\n", "$value", "$labels", ".Labels", ".", "$", "("]
SOUP += [")", "|", "if", "else", "end", "range", "with", "define", "template", "block", "break"]
SOUP += ["continue", '"x"', "`r`", "'c'", "1", "-2", "1.5e3", "0x1", "humanize", "printf"]
SOUP += ['"%v"', "and", "eq", "len", ":=", "=", ",", "$x", "/*", "*/", "nil", "true", ".job"]
SOUP += ["query", "#", "é", "\\", '"', "'", "`", "-", "{{ if 1 }}", "{{ end }}", "{{ else }}"]
SERIES = [
    {"series": 'm{job="api", instance="web-1.example.com:9100"}', "values": "0.75 3"},
    {"series": 'm{job="db", instance="10.0.0.1:80"}', "values": "2 0"},
]
_ADDRESS = re.compile(r"(?:0[xX])?[cC]0[0-9a-fA-F]{8,}|\+?\d{11,}")  # Go pointers, %v and %d


class Generator:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def operand(self, depth: int) -> str:
        if depth < 2 and self.rnd.random() < 0.35:
            return "(" + self.pipeline(depth + 1) + ")"
        return self.rnd.choice(OPERANDS)

    def command(self, depth: int) -> str:
        roll = self.rnd.random()
        if roll < 0.35:
            return f"{self.rnd.choice(UNARY)} {self.operand(depth)}"
        if roll < 0.5:
            return f'printf "{self.rnd.choice(VERBS)}" {self.operand(depth)}'
        if roll < 0.6:
            return f"{self.rnd.choice(BINARY)} {self.operand(depth)} {self.operand(depth)}"
        if roll < 0.7:
            return f'query "{self.rnd.choice(QUERIES)}"'
        return self.operand(depth)

    def pipeline(self, depth: int = 0) -> str:
        stages = [self.command(depth)]
        for _ in range(self.rnd.choice([0, 0, 1, 2])):
            stages.append(self.rnd.choice([*UNARY, 'printf "<%s>"', "eq 1.0", "index $labels"]))
        return " | ".join(stages)

    def template(self) -> str:
        roll, pipe = self.rnd.random(), self.pipeline
        if roll < 0.5:
            return "{{ " + pipe() + " }}"
        if roll < 0.65:
            return f"{{{{ if {pipe()} }}}}Y{{{{ else if {pipe()} }}}}E{{{{ else }}}}N{{{{ end }}}}"
        if roll < 0.75:
            return f"{{{{ with {pipe()} }}}}<{{{{ . }}}}>{{{{ else }}}}none{{{{ end }}}}"
        if roll < 0.87:
            return f"{{{{ range $i, $v := {pipe()} }}}}{{{{ $i }}}}={{{{ $v }}}};{{{{ end }}}}"
        return f"{{{{ $x := {pipe()} }}}}{{{{ $x }}}}|{{{{ {pipe()} }}}}"

    def soup(self) -> str:
        words = [self.rnd.choice(SOUP) for _ in range(self.rnd.randint(1, 10))]
        return "".join(w + (" " if self.rnd.random() < 0.5 else "") for w in words)


def refusals(rules: Path) -> tuple[dict[str, str], dict[str, str]]:
    """annotation -> message, from promtool check rules and from safeship's loader."""
    run = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    found = re.findall(r'annotation "(\w+)": (.*)$', run.stdout + run.stderr, re.MULTILINE)
    try:
        load_rule_file(rules)
        mine: dict[str, str] = {}
    except ConfigError as exc:
        mine = {issue.key.split(".")[-1]: issue.found for issue in exc.issues}
    return dict(found), mine


def expansions(workdir: Path, notes: dict[str, str]) -> list[str]:
    """Differences between promtool's and safeship's annotations at the second evaluation."""
    rules = {
        "groups": [{"name": "g", "rules": [{"alert": "F", "expr": "m", "annotations": notes}]}]
    }
    (workdir / "rules.yml").write_text(yaml.safe_dump(rules, allow_unicode=True, width=1000))
    case = {"eval_time": "1m", "alertname": "F", "exp_alerts": [{}]}
    group = {"interval": "1m", "input_series": SERIES, "alert_rule_test": [case]}
    test = workdir / "test.yml"
    test.write_text(yaml.safe_dump({"rule_files": ["rules.yml"], "tests": [group]}))
    run = subprocess.run(["promtool", "test", "rules", str(test)], capture_output=True, text=True)
    theirs = parse_output(run.stdout + run.stderr)[("F", "1m")]
    ours = _safeship_annotations(test)
    lines = []
    for alert in theirs:
        mine = ours.get(tuple(sorted(alert["exp_labels"].items())), {})
        for key, text in alert.get("exp_annotations", {}).items():
            if _ADDRESS.sub("0x?", mine.get(key, "")) != _ADDRESS.sub("0x?", text):
                lines.append(f"{notes[key]}\n  promtool: {text!r}\n  safeship: {mine.get(key)!r}")
    return list(dict.fromkeys(lines))


def _safeship_annotations(test: Path) -> dict[tuple[tuple[str, str], ...], dict[str, str]]:
    """Alert labels (without alertname) -> annotations, after evaluations at 0s and 1m."""
    loaded = load_file(test)
    store = load_store(loaded.groups[0])
    engine = Engine(store, default_step=60.0)
    state = GroupState()
    for now_ms in (0, 60_000):
        state = evaluate_group(
            loaded.rule_groups[0], engine=engine, store=store, state=state, now_ms=now_ms
        ).state
    alerts = firing(state.alerts.get(0, RuleState()))
    return {
        tuple((k, v) for k, v in a.labels if k != "alertname"): dict(a.annotations) for a in alerts
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--soup", action="store_true", help="random tokens, mostly refused")
    args = parser.parse_args()
    gen = Generator(args.seed)
    notes = {f"f{i:04d}": gen.soup() if args.soup else gen.template() for i in range(args.count)}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rules = {
            "groups": [{"name": "g", "rules": [{"alert": "F", "expr": "m", "annotations": notes}]}]
        }
        (workdir / "rules.yml").write_text(yaml.safe_dump(rules, allow_unicode=True, width=1000))
        theirs, mine = refusals(workdir / "rules.yml")
        differences = [
            f"{notes[k]!r}\n  promtool: {theirs.get(k)}\n  safeship: {mine.get(k)}"
            for k in sorted(set(theirs) | set(mine))
            if theirs.get(k) != mine.get(k)
        ]
        accepted = {k: v for k, v in notes.items() if k not in theirs}
        differences += [d for d in expansions(workdir, accepted) if d]
    print("\n".join(differences))
    summary = f"{args.count} templates, {len(theirs)} refused, {len(differences)} differ"
    print(f"seed {args.seed}: {summary}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())

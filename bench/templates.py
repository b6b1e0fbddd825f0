"""What does expanding alert templates cost? Parse once, then execute per alert per evaluation.

Typical annotations (labels and a humanized value, a printf, an if/else, a range over the
labels, a query) are expanded the way the evaluator does it (`expand`, parse cache warm);
a cold parse is timed separately. A rule group of 1,000 alerts with three templated
annotations each costs 3,000 expansions per evaluation.

    .venv/bin/python bench/templates.py [--repeat 5]

Prints microseconds per expansion and writes bench/results/templates.json.
"""

from __future__ import annotations

import argparse
import json
import timeit
from pathlib import Path

from safeship.alerting.templates import PRELUDE, Env, check, expand
from safeship.alerting.templates.functions import NAMES
from safeship.alerting.templates.parse import parse

RESULTS = Path(__file__).parent / "results" / "templates.json"
LABELS = {"__name__": "http_errors", "job": "api", "instance": "web-1.prod:9100", "code": "500"}
TEMPLATES = {
    "plain": "Error ratio is high",
    "labels": "{{ $labels.job }} on {{ $labels.instance }} returns {{ $labels.code }}",
    "humanize": "{{ $value | humanizePercentage }} of requests fail",
    "printf": '{{ printf "%.2f" $value }} errors/s on {{ $labels.instance | stripPort }}',
    "if_else": "{{ if gt $value 0.2 }}page{{ else if gt $value 0.05 }}ticket{{ else }}-{{ end }}",
    "range": "{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}",
    "query": '{{ with query "sum(up)" }}{{ . | first | value | humanize }}{{ end }} targets up',
}


def per_call_us(fn: object, repeat: int, number: int = 2000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = Env(query=lambda expr: [((("job", "api"),), 42.0)])
    figures: dict[str, float] = {}
    for name, text in TEMPLATES.items():
        check(text)  # warm the parse cache, as loading the rule file does

        def run(text: str = text) -> str:
            return expand(text, labels=LABELS, value=0.125, alert="HighErrors", env=env)

        figures[f"expand_{name}_us"] = per_call_us(run, args.repeat)
    longest = PRELUDE + TEMPLATES["if_else"]
    figures["parse_if_else_us"] = per_call_us(lambda: parse(longest, "x", NAMES), args.repeat, 500)
    typical = (figures["expand_labels_us"] + figures["expand_humanize_us"]) / 2
    figures["group_1000_alerts_3_annotations_ms"] = 3000 * typical / 1000
    for key, value in figures.items():
        print(f"{key:40s} {value:10.1f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Hostile files and user text with Rich markup in it: every entry point refuses the file with
exit 2 and file:line in under 2 s and 200 MB, and prints user text exactly as written."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from tests.unit.test_bad_input_fuzz import ROOT, invoke

ENTRY_POINTS = {
    "validate": ["validate", "FILE"],
    "run": ["run", "FILE", "--version", "v2", "--dry-run"],
    "rules check": ["rules", "check", "FILE"],
    "rules test": ["rules", "test", "FILE"],
    "serve": ["serve", "-c", "FILE", "--check"],
}
HOSTILE = {
    "not UTF-8": b"service:\n  name: \xff\xfe\n",
    "binary": b"\x7fELF\x02\x01\x01\x00\x00\x00",
    "control character": b"groups:\n  - name: \x01\n",
    "empty": b"",
    "50 MB": b"a: " + b"x" * (50 * 1024 * 1024) + b"\n",
    "deeply nested": b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "recursive alias": b"a: &a [*a]\n",
    "alias bomb": b"a: &a [x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode()
        for i in range(8)
    ),
    "duplicate keys": b"groups: []\ngroups: []\nservice: {}\nservice: {}\n",
    "wrong types": b"groups: 5\nservice: [1]\ntests: {}\nscrape_configs: 7\nlisten: 9\n",
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("document", list(HOSTILE))
def test_hostile_file_exits_2_naming_file_and_line_quickly_and_small(
    entry: str, document: str, tmp_path: Path
) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        code, output = invoke(ENTRY_POINTS[entry], HOSTILE[document], tmp_path)
        took, (_, peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2, output
    assert "input.yaml:" in output, output
    assert took < 2.0, f"{took:.2f}s"
    assert peak < 200 * 1024 * 1024, f"{peak / 1e6:.0f} MB"


SPEC_WITH_MARKUP = """\
service: {name: "[red]Shop[/]", command: [python]}
strategy: {canary: {steps: [{setWeight: 10}]}}
"""


def test_user_text_in_errors_is_printed_as_written_not_as_markup(tmp_path: Path) -> None:
    code, output = invoke(["validate", "FILE"], SPEC_WITH_MARKUP.encode(), tmp_path)
    assert code == 2
    assert "'[red]Shop[/]'" in output  # the value, not red "Shop" or a MarkupError
    assert "'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'" in output  # Rich ate [a-z0-9] as a tag


def test_a_regex_in_a_rule_error_survives_printing(tmp_path: Path) -> None:
    rules = 'groups:\n  - name: "[/]"\n    rules:\n      - record: "a[/]b"\n        expr: up\n'
    code, output = invoke(["rules", "check", "FILE"], rules.encode(), tmp_path)
    assert code == 2
    assert "a[/]b" in output


def test_run_dry_run_prints_names_with_brackets(tmp_path: Path) -> None:
    spec = (ROOT / "examples/rolling.yaml").read_text()
    code, output = invoke(
        ["run", "FILE", "--version", "[bold]v2[/]", "--dry-run"], spec.encode(), tmp_path
    )
    assert code == 0, output
    assert "→ [bold]v2[/]" in output

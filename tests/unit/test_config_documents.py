"""Every YAML file people give us is read by config/documents.py: hostile or careless files
are refused fast with a ConfigError naming the file and line, never a traceback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from safeship.alerting.rule_files import load_rule_file
from safeship.alerting.rule_tests import load_file as load_rule_test_file
from safeship.config.documents import MAX_BYTES, MAX_DEPTH, load_yaml
from safeship.config.loader import load_rollout_spec
from safeship.core.errors import ConfigError

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "binary": (b"service:\n  name: \x00\x01\x02", "binary content"),
    "not utf-8": (b"service:\n  name: caf\xe9\n", "not UTF-8"),
    "alias bomb": (LAUGHS.encode(), "expand to over"),
    "recursive alias": (b"a: &a [*a]\n", "inside its own anchor"),
    "deep nesting": (b"a: " + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5), "nesting deeper"),
    "huge": (b"a: " + b"x" * (MAX_BYTES + 1), "over 4 MB"),
    "duplicate key": (b"service:\n  name: a\n  name: b\n", "second time"),
}
LOADERS: dict[str, Callable[[Path], Any]] = {
    "rollout spec": load_rollout_spec,
    "rule file": load_rule_file,
    "rule test file": load_rule_test_file,
}


@pytest.mark.parametrize("loader", LOADERS, ids=str)
@pytest.mark.parametrize("case", HOSTILE, ids=str)
def test_hostile_files_are_refused_fast_with_a_located_config_error(
    tmp_path: Path, case: str, loader: str
) -> None:
    content, says = HOSTILE[case]
    path = tmp_path / "file.yaml"
    path.write_bytes(content)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=says) as caught:
        LOADERS[loader](path)
    assert time.perf_counter() - started < 1.0
    assert str(caught.value).startswith(str(path))


def test_a_duplicate_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("service:\n  name: a\n  stable: v1\n  name: b\n")
    with pytest.raises(ConfigError) as caught:
        load_rollout_spec(path)
    assert str(caught.value) == (
        f"{path}:4: key 'name' found 'name' a second time (first on line 2), expected each key once"
    )


def test_a_few_anchors_and_merge_keys_are_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {a: 1, b: 2}\nx:\n  <<: *base\n  b: 3\ny: [*base, *base]\n")
    data, lines = load_yaml(path)
    assert data["x"] == {"a": 1, "b": 3}
    assert data["y"] == [{"a": 1, "b": 2}] * 2
    assert lines[("x", "b")] == 4

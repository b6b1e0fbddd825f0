"""YAML → validated models, with every error located at file, line and key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from safeship.config.models import RolloutSpec
from safeship.core.errors import ConfigError, ConfigIssue

M = TypeVar("M", bound=BaseModel)
PathKey = tuple[str | int, ...]


def load_rollout_spec(path: str | Path) -> RolloutSpec:
    """The rollout spec in `path`; raises ConfigError naming every problem."""
    return load_model(Path(path), RolloutSpec)


def load_model(path: Path, model: type[M]) -> M:
    text = _read(path)
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(str(path), line, "", problem, "valid YAML")]) from exc
    if not isinstance(data, dict):
        found = "an empty file" if data is None else type(data).__name__
        raise ConfigError([ConfigIssue(str(path), 1, "", found, "a mapping of sections")])
    lines = dict(_node_lines(root, ()))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(path, error, data, lines) for error in exc.errors()]
        raise ConfigError(issues) from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        issue = ConfigIssue(str(path), None, "", exc.strerror or str(exc), "a readable file")
        raise ConfigError([issue]) from exc


def _node_lines(node: yaml.Node | None, at: PathKey) -> Iterator[tuple[PathKey, int]]:
    """Every key path in the document with the 1-based line where its value starts."""
    if node is None:
        return
    yield at, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield (*at, key.value), key.start_mark.line + 1
            yield from ((p, ln) for p, ln in _node_lines(value, (*at, key.value)) if p != at)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _node_lines(item, (*at, index))


def _issue(path: Path, error: Any, data: Any, lines: dict[PathKey, int]) -> ConfigIssue:
    located = _locate(error["loc"], data)
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in located).replace(".[", "[")
    found = "nothing" if error["type"] == "missing" else _show(error.get("input"))
    expected = str(error["msg"]).removeprefix("Value error, ")
    if expected.startswith("expected "):  # our own messages say what was expected and found
        expected, _, found_here = expected.removeprefix("expected ").partition(", found ")
        found = found_here or found
    if error["type"] == "extra_forbidden":
        found, expected = f"unknown key '{located[-1]}'", "one of the documented keys"
    return ConfigIssue(str(path), _line_of(located, lines), key, found, expected)


def _locate(loc: tuple[Any, ...], data: Any) -> PathKey:
    """The part of pydantic's error location that exists in the document (drops union tags)."""
    located: list[str | int] = []
    node = data
    for part in loc:
        if _has(node, part):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and located[-1:] != [part]:
            located.append(part)  # a missing key: name it, it has no line of its own
            node = None
            continue
        else:
            continue
        located.append(part)
    return tuple(located)


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _line_of(located: PathKey, lines: dict[PathKey, int]) -> int | None:
    for end in range(len(located), -1, -1):
        if located[:end] in lines:
            return lines[located[:end]]
    return None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping with keys " + ", ".join(map(str, value)) if value else "{}"
    text = repr(value) if not isinstance(value, list) else f"a list of {len(value)}"
    return text if len(text) <= 60 else text[:57] + "..."

"""Reading YAML files people wrote: one place for safety, line tracking and located errors.

Rollout specs, safeship.yaml, rule files and promtool test files all come through here
(config/loader.py, config/metrics.py, alerting/rules.py, alerting/rule_tests.py). The file
is composed into PyYAML nodes once, which gives every key its line, and refused with a
ConfigError naming file:line (never a traceback) when it is not something a person wrote:
too big, binary or not UTF-8, nested deeper than any config needs, aliases that expand into
a blow-up (billion laughs), or a key given twice in one mapping (YAML says last one wins,
which silently drops the first).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from safeship.core.errors import ConfigError, ConfigIssue

M = TypeVar("M", bound=BaseModel)
PathKey = tuple[str | int, ...]

MAX_BYTES = 4 * 1024 * 1024  # far above any real spec or rule file
MAX_DEPTH = 100  # levels of nesting
MAX_NODES = 100_000  # nodes after expanding aliases: a few anchors are fine, a bomb is not


def load_model(path: Path, model: type[M]) -> M:
    """The file at `path` validated as `model`; ConfigError naming every problem's line."""
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else type(data).__name__
        raise ConfigError([ConfigIssue(str(path), 1, "", found, "a mapping of sections")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(path, error, data, lines) for error in exc.errors()]
        raise ConfigError(issues) from exc


def load_yaml(path: Path) -> tuple[Any, dict[PathKey, int]]:
    """The document's data and the 1-based line of every key path in it."""
    loader = _loader(path)
    try:
        root = _compose(loader, path)
        lines = dict(_node_lines(root, ()))
        return (loader.construct_document(root) if root is not None else None), lines
    except yaml.YAMLError as exc:
        raise _invalid(path, exc) from None
    finally:
        loader.dispose()


def compose_file(path: Path) -> yaml.Node | None:
    """The document's node tree (each node knows its line), refused when hostile."""
    loader = _loader(path)
    try:
        return _compose(loader, path)
    except yaml.YAMLError as exc:
        raise _invalid(path, exc) from None
    finally:
        loader.dispose()


def node_issue(path: str, node: yaml.Node, *, key: str, found: str, expected: str) -> ConfigError:
    """A ConfigError at the line where `node` starts."""
    return ConfigError([ConfigIssue(path, node.start_mark.line + 1, key, found, expected)])


def _read(path: Path) -> str:
    """The file as text; refused when too big, binary or not UTF-8."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        issue = ConfigIssue(str(path), None, "", exc.strerror or str(exc), "a readable file")
        raise ConfigError([issue]) from exc
    if len(raw) > MAX_BYTES:
        found = f"a file over {MAX_BYTES // (1024 * 1024)} MB"
        raise ConfigError([ConfigIssue(str(path), None, "", found, "a config file")])
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise ConfigError([ConfigIssue(str(path), line, "", "binary content", "YAML text")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        found = f"a byte that is not UTF-8 (0x{raw[exc.start]:02x})"
        raise ConfigError([ConfigIssue(str(path), line, "", found, "UTF-8 YAML text")]) from None


def _loader(path: Path) -> _SafeComposer:
    """A composer over the file's text; PyYAML checks the characters as it starts, so a
    control character (U+0001, U+0080, ...) is refused here, at its line."""
    text = _read(path)
    try:
        return _SafeComposer(text, path=path)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        found = f"a control character (U+{exc.character:04X})"
        raise ConfigError([ConfigIssue(str(path), line, "", found, "YAML text")]) from None


def _refused(path: str, line: int, problem: str) -> ConfigError:
    """A well-formed document we still will not load; says why and where."""
    return ConfigError([ConfigIssue(path, line, "", problem, "a config file")])


class _SafeComposer(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than MAX_DEPTH while composing (so a
    deep document never reaches Python's recursion limit) and while scanning `[` and `{`
    (PyYAML's scanner is quadratic in flow depth: 100,000 brackets took seconds)."""

    def __init__(self, text: str, *, path: Path) -> None:
        super().__init__(text)
        self._depth, self._path = 0, str(path)

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _refused(self._path, self.line + 1, f"nesting deeper than {MAX_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise _refused(self._path, line, f"nesting deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose(loader: _SafeComposer, path: Path) -> yaml.Node | None:
    root: yaml.Node | None = loader.get_single_node()
    if root is not None:
        if _expanded_size(str(path), root, {}) > MAX_NODES:
            raise _refused(str(path), 1, f"aliases that expand to over {MAX_NODES} nodes")
        _refuse_duplicate_keys(str(path), root, set())
    return root


def _expanded_size(path: str, node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in the document once every alias is expanded; linear in the composed size."""
    if id(node) in memo:
        if memo[id(node)] < 0:
            raise _refused(path, node.start_mark.line + 1, "an alias inside its own anchor")
        return memo[id(node)]
    memo[id(node)] = -1  # being counted: meeting it again means a recursive alias
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    total = 1 + sum(_expanded_size(path, child, memo) for child in children)
    memo[id(node)] = min(total, MAX_NODES + 1)
    return memo[id(node)]


def _refuse_duplicate_keys(path: str, node: yaml.Node, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            line = key.start_mark.line + 1
            if name and name != "<<" and name in first:
                found = f"'{name}' a second time (first on line {first[name]})"
                raise ConfigError([ConfigIssue(path, line, name, found, "each key once")])
            first.setdefault(name, line)
            _refuse_duplicate_keys(path, value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item, seen)


def _invalid(path: Path, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    problem = getattr(exc, "problem", None) or str(exc)
    return ConfigError([ConfigIssue(str(path), line, "", problem, "valid YAML")])


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

"""The rules of the house that import-linter's contracts do not state: no cycle between
packages, and product code never imports the test kit (docs/architecture.md)."""

from __future__ import annotations

from collections import defaultdict

import grimp

from safeship.rollout import rollback
from safeship.rollout.state import Trigger


def _package_graph() -> dict[str, set[str]]:
    """Top-level package → the top-level packages it imports (itself excluded)."""
    graph = grimp.build_graph("safeship")
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        source = _package(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = _package(imported)
            if target != source:
                edges[source].add(target)
    return edges


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle in the graph as a path that starts and ends at the same node, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(edges.get(node, ())):
            if found := visit(nxt, [*path, node]):
                return found
        done.add(node)
        return None

    for start in sorted(edges):
        if found := visit(start, []):
            return found
    return None


def test_no_cycle_between_packages() -> None:
    assert _cycle(_package_graph()) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_product_code_never_imports_the_test_kit() -> None:
    graph = grimp.build_graph("safeship")
    assert graph.find_modules_that_directly_import("safeship.testing") == set()


def test_the_rollback_module_names_every_trigger_and_its_function() -> None:
    doc = rollback.__doc__ or ""
    for trigger in Trigger:
        assert f"`{trigger.name}`" in doc, trigger
    for function in ("on_failed_action", "on_late_batch", "on_unhealthy_targets", "start"):
        assert f"`{function}`" in doc and callable(getattr(rollback, function))

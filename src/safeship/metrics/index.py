"""The series index: label set ↔ series id, and postings per label pair for fast matching.

The store asks it for the ids of series that match a selector; the ids are returned in
label order so that every consumer sees series in the order Prometheus would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from safeship.core.labels import NAME, Labels
from safeship.core.regex import Regex, compile_anchored

Ids = npt.NDArray[np.int64]
_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    """One label matcher; regexes are RE2, anchored at both ends, as in Prometheus (a bad
    regex raises RegexError when first used: callers that parse validate with `regex`)."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"matcher operator must be one of {_OPS}, found {self.op!r}")

    @cached_property
    def regex(self) -> Regex:
        return compile_anchored(self.value)

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = self.regex.matches(value)
        return found if self.op == "=~" else not found


def equal(name: str, value: str) -> Matcher:
    return Matcher(name, "=", value)


@dataclass
class LabelIndex:
    """Interns label sets and keeps, for each label pair, the ids of the series carrying it."""

    _ids: dict[Labels, int] = field(default_factory=dict)
    _labels: list[Labels] = field(default_factory=list)
    _postings: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    _order: Ids | None = None
    _cache: dict[tuple[Matcher, ...], Ids] = field(default_factory=dict)
    _label_lists: dict[tuple[Matcher, ...], list[Labels]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._labels)

    def ref(self, labels: Labels) -> int:
        """The id of `labels`, creating the series on first sight."""
        sid = self._ids.get(labels)
        if sid is None:
            sid = self._add(labels)
        return sid

    def find(self, labels: Labels) -> int | None:
        return self._ids.get(labels)

    def labels(self, sid: int) -> Labels:
        return self._labels[sid]

    def label_names(self) -> list[str]:
        return sorted(self._postings)

    def all_labels(self) -> list[Labels]:
        """Every label set, position = series id (a copy: the index keeps growing)."""
        return list(self._labels)

    def label_values(self, name: str) -> list[str]:
        return sorted(self._postings.get(name, {}))

    def select(self, matchers: tuple[Matcher, ...]) -> Ids:
        """Ids of the series every matcher accepts, in label order (cached until a new series)."""
        hit = self._cache.get(matchers)
        if hit is None:
            hit = self._in_label_order(self._match(matchers))
            self._cache[matchers] = hit
        return hit

    def select_labels(self, matchers: tuple[Matcher, ...]) -> list[Labels]:
        """The label sets of `select(matchers)`, as one list object reused until a new series."""
        hit = self._label_lists.get(matchers)
        if hit is None:
            hit = [self._labels[i] for i in self.select(matchers).tolist()]
            self._label_lists[matchers] = hit
        return hit

    def _add(self, labels: Labels) -> int:
        sid = len(self._labels)
        self._ids[labels] = sid
        self._labels.append(labels)
        for name, value in labels:
            self._postings.setdefault(name, {}).setdefault(value, []).append(sid)
        self._order = None
        self._cache.clear()
        self._label_lists.clear()
        return sid

    def _match(self, matchers: tuple[Matcher, ...]) -> Ids:
        # Matchers that reject "" narrow from their postings; the others subtract.
        narrowing = [m for m in matchers if not m.matches("")]
        widening = [m for m in matchers if m.matches("")]
        if narrowing:
            ids = self._postings_for(narrowing[0], accept=True)
            for m in narrowing[1:]:
                ids = np.intersect1d(ids, self._postings_for(m, accept=True), assume_unique=True)
        else:
            ids = np.arange(len(self._labels), dtype=np.int64)
        for m in widening:
            ids = np.setdiff1d(ids, self._postings_for(m, accept=False), assume_unique=True)
        return ids

    def _postings_for(self, matcher: Matcher, *, accept: bool) -> Ids:
        values = self._postings.get(matcher.name, {})
        if matcher.op == "=" and accept:
            return np.asarray(values.get(matcher.value, []), dtype=np.int64)
        lists = [ids for value, ids in values.items() if matcher.matches(value) == accept]
        if not lists:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]))

    def _in_label_order(self, ids: Ids) -> Ids:
        rank = self._rank()
        return ids[np.argsort(rank[ids], kind="stable")]

    def _rank(self) -> Ids:
        if self._order is None:
            order = sorted(range(len(self._labels)), key=self._labels.__getitem__)
            rank = np.empty(len(order), dtype=np.int64)
            rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order), dtype=np.int64)
            self._order = rank
        return self._order


def name_matchers(name: str | None, matchers: list[Matcher]) -> tuple[Matcher, ...]:
    """The full matcher tuple of a selector, with its metric name as an equality matcher."""
    found = [m for m in matchers]
    if name and not any(m.name == NAME for m in found):
        found.insert(0, equal(NAME, name))
    return tuple(found)

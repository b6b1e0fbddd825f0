"""The embedded series store: appends, matching, windows, staleness, retention."""

from __future__ import annotations

import math

import numpy as np
import pytest

from safeship.core.labels import STALE_NAN, is_stale
from safeship.metrics.index import Matcher, equal
from safeship.metrics.store import SeriesStore


def _store() -> SeriesStore:
    store = SeriesStore()
    for i, job in enumerate(["api", "web", "db"]):
        for t in range(5):
            store.append({"__name__": "up", "job": job, "i": str(i)}, t * 1000, float(t + i))
    return store


@pytest.mark.parametrize(
    ("matchers", "jobs"),
    [
        ([Matcher("job", "=", "api")], ["api"]),
        ([Matcher("job", "!=", "api")], ["db", "web"]),
        ([Matcher("job", "=~", "a.*|w.*")], ["api", "web"]),
        ([Matcher("job", "=~", "p")], []),  # anchored: "p" does not match "api"
        ([Matcher("job", "!~", "api|db")], ["web"]),
        ([Matcher("__name__", "=", "up"), Matcher("missing", "=", "")], ["api", "db", "web"]),
    ],
)
def test_select_applies_matchers_like_prometheus(matchers: list[Matcher], jobs: list[str]) -> None:
    found = _store().select(matchers, 0, 10_000)
    assert sorted(dict(s.labels)["job"] for s in found) == jobs


def test_select_returns_samples_in_the_closed_time_range() -> None:
    (series,) = _store().select([Matcher("job", "=", "web")], 1000, 3000)
    assert series.timestamps.tolist() == [1000, 2000, 3000]
    assert series.values.tolist() == [2.0, 3.0, 4.0]


def test_out_of_order_appends_are_merged_in_time_order_and_duplicates_overwrite() -> None:
    store = SeriesStore()
    for t, v in [(3000, 3.0), (1000, 1.0), (2000, 2.0), (2000, 20.0)]:
        store.append({"__name__": "x"}, t, v)
    (series,) = store.select([Matcher("__name__", "=", "x")], 0, 5000)
    assert series.timestamps.tolist() == [1000, 2000, 3000]
    assert series.values.tolist() == [1.0, 20.0, 3.0]


def test_append_refs_fast_path_matches_append() -> None:
    store = SeriesStore()
    refs = np.asarray([store.ref({"__name__": "m", "k": str(k)}) for k in range(3)])
    store.append_refs(refs, 5000, np.asarray([1.0, 2.0, 3.0]))
    store.append_many([{"__name__": "m", "k": "0"}], 6000, np.asarray([9.0]))
    found = store.select([Matcher("k", "=", "0")], 0, 10_000)
    assert found[0].values.tolist() == [1.0, 9.0]


def test_staleness_marker_is_kept_and_recognisable() -> None:
    store = SeriesStore()
    store.append({"__name__": "x"}, 1000, 1.0)
    store.mark_stale({"__name__": "x"}, 2000)
    (series,) = store.select([Matcher("__name__", "=", "x")], 0, 5000)
    assert is_stale(float(series.values[1]))
    assert not is_stale(math.nan) and math.isnan(STALE_NAN)


def test_retention_drops_samples_older_than_the_window() -> None:
    store = SeriesStore(retention=2.0)
    for t in range(6):
        store.append({"__name__": "x"}, t * 1000, float(t))
    (series,) = store.select([Matcher("__name__", "=", "x")], 0, 10_000)
    assert series.timestamps.tolist() == [3000, 4000, 5000]


def test_label_names_and_values_come_from_the_index() -> None:
    store = _store()
    assert store.label_names() == ["__name__", "i", "job"]
    assert store.label_values("job") == ["api", "db", "web"]


def test_small_writes_merge_without_touching_views_already_taken() -> None:
    # Merges reuse the store's buffers once nothing refers to them: a view still held must
    # keep its samples, and stale markers must stay found after incremental merges.
    store = SeriesStore()
    refs = np.asarray([store.ref({"__name__": f"m{i}"}) for i in range(50)], dtype=np.int64)
    for t in range(0, 10_000, 1000):
        store.append_refs(refs, t, np.full(refs.size, float(t)))
        store.view()
    held = store.view()
    kept_keys, kept_values = held.keys.copy(), held.values.copy()
    for t in range(10_000, 20_000, 1000):
        store.append({"__name__": "m3"}, t, float(t))
        store.append({"__name__": "m3"}, t, float(t) + 0.5)  # a repeat: the newest wins
        store.mark_stale({"__name__": "m49"}, t)
        store.view()
    assert np.array_equal(held.keys, kept_keys) and np.array_equal(held.values, kept_values)
    [m3] = store.select([equal("__name__", "m3")], 0, 30_000)
    assert m3.timestamps.tolist() == list(range(0, 20_000, 1000))
    assert m3.values[-1] == 19_000.5
    view = store.view()
    stale = np.flatnonzero(view.values.view(np.uint64) == np.float64(STALE_NAN).view(np.uint64))
    assert view.stale_positions.tolist() == stale.tolist()
    assert len(stale) == 10

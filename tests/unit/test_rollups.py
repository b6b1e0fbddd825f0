"""Rollups: raw samples → 1m/5m/1h buckets in SQL, hot/warm/cold retention, history reads.

The pure bucket maths is table-driven; the job, writer, pruning and reader run on a real
SQLite file here and, unchanged, on PostgreSQL in tests/integration/test_rollups_postgres.py
(only the `history_url` fixture differs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeship.core.labels import STALE_NAN, make_labels
from safeship.metrics.index import Matcher, equal
from safeship.metrics.promql import Engine as PromQLEngine
from safeship.metrics.promql.values import Vector
from safeship.metrics.retention import (
    HistoryReader,
    RetentionPolicy,
    RollupWriter,
    metric_rollups,
    metric_series,
    open_history,
)
from safeship.metrics.rollups import Rollup, blocks, bucketize, window_samples
from safeship.metrics.store import SeriesStore
from safeship.testing import FakeClock

HOUR_MS = 3_600_000
T0_MS = 1_699_999_200_000  # on an hour boundary, so all three resolutions align
STEP_MS = 15_000


def _buckets_of(points: list[tuple[int, float]], resolution_s: int = 60) -> dict[str, list[float]]:
    store = SeriesStore()
    for t, v in points:
        store.append({"__name__": "x"}, T0_MS + t, v)
    w = window_samples(store.view(), sids=range(len(store)), start_ms=T0_MS, end_ms=T0_MS + HOUR_MS)
    b = bucketize(w, resolution_s=resolution_s)
    fields = ("count", "sum", "min", "max", "first", "last", "increase")
    out: dict[str, list[float]] = {f: getattr(b, f).tolist() for f in fields}
    out["start"] = ((b.starts_ms - T0_MS) // 1000).tolist()
    return out


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param(
            [(0, 1.0), (15_000, 3.0), (30_000, 2.0), (45_000, 6.0)],
            {"count": [4], "sum": [12.0], "min": [1.0], "max": [6.0], "first": [1.0],
             "last": [6.0], "start": [0]},
            id="one-minute-one-bucket",
        ),
        pytest.param(
            [(0, 1.0), (59_999, 2.0), (60_000, 5.0), (185_000, 7.0)],
            {"count": [2, 1, 1], "sum": [3.0, 5.0, 7.0], "first": [1.0, 5.0, 7.0],
             "last": [2.0, 5.0, 7.0], "start": [0, 60, 180]},
            id="buckets-split-on-minute-edges-and-skip-empty-minutes",
        ),
        pytest.param(
            [(0, 1.0), (15_000, STALE_NAN), (30_000, 4.0), (45_000, float("nan"))],
            {"count": [2], "sum": [5.0], "last": [4.0]},
            id="staleness-markers-and-nans-are-left-out",
        ),
    ],
)  # fmt: skip
def test_bucket_summaries(
    points: list[tuple[int, float]], expected: dict[str, list[float]]
) -> None:
    got = _buckets_of(points)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("values", "increases"),
    [
        ([10, 20, 30, 40, 50, 60, 70, 80], [30.0, 40.0]),  # first sample has no predecessor
        ([10, 20, 30, 40, 50, 5, 15, 25], [30.0, 35.0]),  # +10, reset 50 → 5 adds 5, +10 +10
        ([100, 0, 0, 0, 1, 2, 3, 4], [0.0, 4.0]),  # reset to zero in the first bucket
    ],
)
def test_counter_increase_survives_resets_and_spans_buckets(
    values: list[float], increases: list[float]
) -> None:
    got = _buckets_of([(i * STEP_MS, float(v)) for i, v in enumerate(values)])
    assert got["increase"] == increases


def test_increase_of_first_bucket_counts_from_the_sample_before_the_window() -> None:
    store = SeriesStore()
    for i, v in enumerate([5.0, 9.0, 12.0]):
        store.append({"__name__": "c"}, T0_MS - STEP_MS + i * STEP_MS, v)
    w = window_samples(store.view(), sids=range(1), start_ms=T0_MS, end_ms=T0_MS + 60_000)
    assert bucketize(w, resolution_s=60).increase.tolist() == [7.0]


def test_a_block_of_series_keeps_each_series_own_value_before_the_window() -> None:
    store = SeriesStore()
    for sid in range(3):
        for i in range(3):
            store.append(
                {"__name__": "c", "i": str(sid)}, T0_MS + (i - 1) * STEP_MS, 10.0 * sid + i
            )
    (block,) = [b for b in blocks(3, size=2) if b.start == 2]
    w = window_samples(store.view(), sids=block, start_ms=T0_MS, end_ms=T0_MS + 60_000)
    got = bucketize(w, resolution_s=60)
    assert got.sids.tolist() == [2] and got.increase.tolist() == [2.0] and got.count.tolist() == [2]


def test_five_minute_and_hour_buckets_fold_the_same_samples() -> None:
    points = [(i * STEP_MS, float(i)) for i in range(240)]  # one hour, one sample per 15 s
    five, hour = _buckets_of(points, 300), _buckets_of(points, 3600)
    assert five["count"] == [20] * 12
    assert hour["count"] == [240] and hour["sum"] == [sum(range(240))]
    assert hour["min"] == [0.0] and hour["max"] == [239.0] and hour["increase"] == [239.0]


# -- retention policy --------------------------------------------------------------------------
def test_policy_parses_durations_as_users_write_them() -> None:
    policy = RetentionPolicy.parse(hot="2h", tiers={"1m": "7d", "5m": "90d", "1h": "1y"})
    assert policy.hot_s == 7200 and policy.resolutions_s == (60, 300, 3600)
    assert policy.tiers[3600] == 365 * 86400


def test_policy_refuses_a_hot_window_shorter_than_the_widest_rollup() -> None:
    with pytest.raises(ValueError, match="shorter than the widest rollup"):
        RetentionPolicy(hot_s=1800, tiers={60: 86400.0, 3600: 86400.0})


# -- job, writer, reader on a real database ----------------------------------------------------
@pytest.fixture
def history_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def engine(history_url: str) -> Iterator[Engine]:
    eng = open_history(history_url)
    yield eng
    eng.dispose()


def _fill(store: SeriesStore, *, series: int, minutes: int, start_ms: int = T0_MS) -> None:
    refs = np.asarray(
        [store.ref({"__name__": "req_total", "instance": f"i{i}"}) for i in range(series)]
    )
    for step in range(minutes * 4):
        store.append_refs(refs, start_ms + step * STEP_MS, (refs + 1) * float(step))


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_job_writes_every_finished_bucket_once_and_reruns_are_no_ops(engine: Engine) -> None:
    store, clock = SeriesStore(retention=7200), FakeClock(T0_MS / 1000 + 3600 + 60)
    _fill(store, series=3, minutes=60)
    job = Rollup(store, RollupWriter(engine), clock=clock)
    reports = job.run()
    assert [(r.resolution_s, r.buckets) for r in reports] == [(60, 180), (300, 36), (3600, 3)]
    assert job.run() == []  # nothing new has finished
    assert job.due_in() == 30.0  # the next minute ends in 0 s, plus 30 s for late scrapes
    _fill(store, series=3, minutes=1, start_ms=T0_MS + HOUR_MS)
    clock.advance(30)
    assert [(r.resolution_s, r.buckets) for r in job.run()] == [(60, 3)]
    assert _count(engine, metric_rollups) == 180 + 36 + 3 + 3
    assert _count(engine, metric_series) == 3


def test_rewriting_the_same_buckets_upserts_instead_of_duplicating(engine: Engine) -> None:
    store = SeriesStore()
    _fill(store, series=2, minutes=10)
    w = window_samples(store.view(), sids=range(2), start_ms=T0_MS, end_ms=T0_MS + 600_000)
    writer = RollupWriter(engine)
    for _ in range(2):
        assert RollupWriter(engine).write([bucketize(w, resolution_s=60)], labels_of=store.labels)
    assert _count(engine, metric_rollups) == 20
    assert writer.watermark(60) == T0_MS + 600_000
    assert writer.watermark(300) is None


def test_restart_a_new_store_and_reader_answer_the_last_hour_from_rollups(engine: Engine) -> None:
    store, clock = SeriesStore(retention=7200), FakeClock(T0_MS / 1000 + 3600 + 60)
    _fill(store, series=4, minutes=60)
    Rollup(store, RollupWriter(engine), clock=clock).run()
    raw = {s.labels: s for s in store.select([equal("__name__", "req_total")], 0, T0_MS + HOUR_MS)}
    del store  # the process restarts: memory is empty, the database is not

    reader = HistoryReader(engine)
    restarted = SeriesStore(retention=7200)
    assert restarted.select([equal("__name__", "req_total")], 0, T0_MS + HOUR_MS) == []
    found = reader.select([equal("__name__", "req_total")], T0_MS, T0_MS + HOUR_MS, 60_000)
    assert sorted(s.labels for s in found) == sorted(raw)
    for series in found:
        assert series.timestamps.tolist() == [T0_MS + m * 60_000 for m in range(1, 61)]
        before_each_end = raw[series.labels].values[3::4]  # the last raw sample of each minute
        assert series.values.tolist() == before_each_end.tolist()


def test_reader_matches_series_like_the_store_does(engine: Engine) -> None:
    store, clock = SeriesStore(), FakeClock(T0_MS / 1000 + 600)
    _fill(store, series=12, minutes=5)
    Rollup(store, RollupWriter(engine), clock=clock, resolutions_s=(60,), lag_s=0).run()
    reader = HistoryReader(engine)
    got = reader.buckets([Matcher("instance", "=~", "i1.*")], T0_MS, T0_MS + HOUR_MS)
    assert [dict(s.labels)["instance"] for s in got] == ["i1", "i10", "i11"]
    assert all(s.count.tolist() == [4] * 5 for s in got)


def test_finer_rollups_win_and_coarser_ones_fill_in_older_history(engine: Engine) -> None:
    store = SeriesStore()
    _fill(store, series=1, minutes=60)
    writer = RollupWriter(engine)
    w = window_samples(store.view(), sids=range(1), start_ms=T0_MS, end_ms=T0_MS + HOUR_MS)
    writer.write([bucketize(w, resolution_s=300)], labels_of=store.labels)
    recent = window_samples(
        store.view(), sids=range(1), start_ms=T0_MS + 1_800_000, end_ms=T0_MS + HOUR_MS
    )
    writer.write([bucketize(recent, resolution_s=60)], labels_of=store.labels)
    (series,) = HistoryReader(engine).buckets(
        [equal("__name__", "req_total")], T0_MS, T0_MS + HOUR_MS
    )
    assert series.resolution_s.tolist() == [300] * 6 + [60] * 30
    assert np.all(np.diff(series.starts_ms) > 0)
    assert series.count.sum() == 240  # every raw sample counted exactly once


def test_prune_drops_expired_rows_per_tier_and_series_left_empty(engine: Engine) -> None:
    store, clock = SeriesStore(), FakeClock(T0_MS / 1000 + 3600 + 60)
    _fill(store, series=2, minutes=60)
    writer = RollupWriter(engine)
    Rollup(store, writer, clock=clock).run()
    policy = RetentionPolicy(hot_s=7200, tiers={60: 1800.0, 300: 86400.0, 3600: 86400.0})
    deleted = writer.prune(policy, now_s=T0_MS / 1000 + 3600)
    assert deleted == 2 * 30  # the 1m buckets older than 30 minutes
    assert _count(engine, metric_rollups) == 2 * (30 + 12 + 1)
    everything_expired = RetentionPolicy(hot_s=7200, tiers={60: 0.0, 300: 0.0, 3600: 0.0})
    reader = HistoryReader(engine)
    assert len(reader.buckets([equal("instance", "i0")], T0_MS, T0_MS + HOUR_MS)) == 1
    writer.prune(everything_expired, now_s=T0_MS / 1000 + 10 * 86400)
    assert _count(engine, metric_rollups) == 0 and _count(engine, metric_series) == 0
    assert reader.buckets([equal("instance", "i0")], T0_MS, T0_MS + HOUR_MS) == []
    # A pruned series that comes back gets a new id; a long-lived reader follows it.
    Rollup(store, writer, clock=clock, resolutions_s=(60,)).run()
    (again,) = reader.buckets([equal("instance", "i0")], T0_MS, T0_MS + HOUR_MS)
    assert again.count.sum() == 240


def test_a_restarted_job_resumes_after_stored_history_without_overwriting_it(
    engine: Engine,
) -> None:
    store, clock = SeriesStore(), FakeClock(T0_MS / 1000 + 600)
    _fill(store, series=1, minutes=10)
    Rollup(store, RollupWriter(engine), clock=clock, resolutions_s=(60,), lag_s=0).run()
    # After a restart the new store holds only the minutes since; history stays as written.
    fresh, clock = SeriesStore(), FakeClock(T0_MS / 1000 + 900)
    _fill(fresh, series=1, minutes=5, start_ms=T0_MS + 600_000)
    (report,) = Rollup(fresh, RollupWriter(engine), clock=clock, resolutions_s=(60,), lag_s=0).run()
    assert (report.start_ms, report.end_ms, report.buckets) == (T0_MS + 600_000, T0_MS + 900_000, 5)
    (series,) = HistoryReader(engine).buckets([equal("instance", "i0")], T0_MS, T0_MS + HOUR_MS)
    assert series.count.tolist() == [4] * 15


def test_labels_round_trip_through_sql_exactly(engine: Engine) -> None:
    store, clock = SeriesStore(), FakeClock(T0_MS / 1000 + 120)
    labels = make_labels({"__name__": "odd", "path": '/a"b\\c', "unicode": "ünï"})
    store.append(labels, T0_MS, 1.0)
    Rollup(store, RollupWriter(engine), clock=clock, resolutions_s=(60,), lag_s=0).run()
    (series,) = HistoryReader(engine).buckets([equal("unicode", "ünï")], T0_MS, T0_MS + 60_000)
    assert series.labels == labels


def test_nan_summaries_round_trip_as_nan(engine: Engine) -> None:
    store, clock = SeriesStore(), FakeClock(T0_MS / 1000 + 120)
    for t, v in ((0, float("inf")), (15_000, float("-inf"))):
        store.append({"__name__": "g"}, T0_MS + t, v)
    Rollup(store, RollupWriter(engine), clock=clock, resolutions_s=(60,), lag_s=0).run()
    (series,) = HistoryReader(engine).buckets([equal("__name__", "g")], T0_MS, T0_MS + 60_000)
    assert np.isnan(series.sum[0]) and series.min[0] == float("-inf")
    assert series.count.tolist() == [2]


def test_promql_runs_over_history_loaded_from_rollups(engine: Engine) -> None:
    store, clock = SeriesStore(retention=7200), FakeClock(T0_MS / 1000 + 3600 + 60)
    _fill(store, series=4, minutes=60)
    Rollup(store, RollupWriter(engine), clock=clock).run()
    live = PromQLEngine(store)
    history = PromQLEngine(HistoryReader(engine).to_store([], T0_MS, T0_MS + HOUR_MS, 60_000))
    for minute in (10, 30, 60):
        t_ms = T0_MS + minute * 60_000
        # A history point stands at its bucket's end with the last value seen before it.
        want = live.instant("sum(req_total)", (t_ms - 1) / 1000)
        got = history.instant("sum(req_total)", t_ms / 1000)
        assert isinstance(got, Vector) and isinstance(want, Vector)
        assert got.values.tolist() == want.values.tolist()

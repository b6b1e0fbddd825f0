"""Rollups on a real PostgreSQL (127.0.0.1:5432, trust auth): the SQLite tests of
tests/unit/test_rollups.py run here unchanged against a throwaway database per test,
plus the PostgreSQL-specific checks. An unreachable server fails the run.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeship.metrics.retention import RollupWriter, metric_rollups
from safeship.metrics.rollups import Rollup, bucketize, window_samples
from safeship.metrics.store import SeriesStore
from safeship.store.migrate import current_revision, head_revision
from safeship.testing import FakeClock

pytestmark = pytest.mark.integration

T0_MS = 1_699_999_200_000

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
_contract = importlib.import_module("test_rollups")
# The database-backed tests (those taking `engine`); the pure bucket maths needs no rerun.
globals().update(
    {
        name: test
        for name, test in vars(_contract).items()
        if name.startswith("test_") and "engine" in inspect.signature(test).parameters
    }
)
engine = _contract.engine


@pytest.fixture
def history_url(postgres_url: str) -> str:
    return postgres_url


def test_migrations_reach_head_with_the_rollup_tables_and_their_key(engine: Engine) -> None:
    assert engine.dialect.name == "postgresql"
    assert current_revision(engine) == head_revision()
    inspector = sa.inspect(engine)
    key = inspector.get_pk_constraint("metric_rollups")["constrained_columns"]
    assert key == ["resolution_s", "series_id", "bucket_start"]
    assert {"metric_series", "metric_rollups"} <= set(inspector.get_table_names())


def test_many_rows_go_in_multi_row_statements_and_upsert_again(engine: Engine) -> None:
    store = SeriesStore()
    refs = np.asarray([store.ref({"__name__": "busy", "i": str(i)}) for i in range(23)])
    for step in range(240):  # one hour at 15 s: 23 x 60 = 1,380 one-minute rows
        store.append_refs(refs, T0_MS + step * 15_000, refs * 1.0 + step)
    clock = FakeClock(T0_MS / 1000 + 3600 + 60)
    assert Rollup(store, RollupWriter(engine), clock=clock, resolutions_s=(60,)).run()[0].buckets
    window = window_samples(store.view(), sids=range(23), start_ms=T0_MS, end_ms=T0_MS + 3_600_000)
    assert RollupWriter(engine).write([bucketize(window, resolution_s=60)], labels_of=store.labels)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count(), sa.func.sum(metric_rollups.c.count)))
        assert tuple(rows.one()) == (23 * 60, 23 * 240)

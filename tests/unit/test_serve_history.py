"""`safeship serve` keeps history: finished buckets of the scraped store land in the database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from safeship.config.metrics import ControlPlaneConfig
from safeship.metrics.index import Matcher
from safeship.metrics.retention import HistoryReader, open_history
from safeship.testing import FakeClock
from safeship.wiring.serve import build, keep_history


def test_scraped_samples_are_rolled_up_into_the_state_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/history.db"
    clock = FakeClock(start=1_800_000_000.0)
    plane = build(ControlPlaneConfig.model_validate({"history": {"database": url}}), clock=clock)
    start_ms = int(clock.now() * 1000) - 600_000
    for i in range(40):  # ten minutes of a counter scraped every 15 s
        plane.store.append({"__name__": "req_total", "job": "web"}, start_ms + i * 15_000, i * 2.0)

    async def run_a_while() -> None:
        task = asyncio.get_running_loop().create_task(keep_history(plane, clock=clock))
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(run_a_while())
    (series,) = HistoryReader(open_history(url)).buckets(
        [Matcher("__name__", "=", "req_total")], start_ms, int(clock.now() * 1000)
    )
    assert dict(series.labels) == {"__name__": "req_total", "job": "web"}
    assert len(series.starts_ms) >= 9  # a bucket per finished minute
    assert int(series.count.sum()) == 40


def test_history_tiers_must_fit_in_the_hot_window() -> None:
    with pytest.raises(ValidationError, match="shorter than the widest rollup"):
        ControlPlaneConfig.model_validate(
            {"metrics": {"source": {"embedded": {"retention": "30m"}}}}
        )

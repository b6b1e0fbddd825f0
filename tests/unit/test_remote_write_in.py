"""Remote write into the store, as Prometheus' head takes it: in order per series, a repeat
dropped, anything older or conflicting refusing the whole request with nothing kept."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from safeship.core.labels import STALE_NAN, make_labels
from safeship.metrics.index import equal
from safeship.metrics.remote_in import NotYet, OutOfOrder, RemoteWriteReceiver
from safeship.metrics.remote_proto import TimeSeries, encode_write_request
from safeship.metrics.store import SeriesStore
from safeship.metrics.wal_replay import recover, replay

UP = make_labels({"__name__": "up", "job": "api"})
DOWN = make_labels({"__name__": "up", "job": "db"})


def held(store: SeriesStore) -> dict[str, list[tuple[int, float]]]:
    found = store.select([equal("__name__", "up")], -(1 << 40), 1 << 40)
    return {
        dict(s.labels)["job"]: [
            (int(t), float(v)) for t, v in zip(s.timestamps, s.values, strict=True)
        ]
        for s in found
    }


def push(receiver: RemoteWriteReceiver, *series: TimeSeries) -> None:
    receiver.receive(encode_write_request(list(series)))


def test_samples_in_order_are_kept_and_a_repeat_is_dropped() -> None:
    store = SeriesStore()
    receiver = RemoteWriteReceiver(store)
    push(receiver, TimeSeries(UP, [(1000, 1.0), (2000, 2.0)]), TimeSeries(DOWN, [(1000, 0.0)]))
    push(receiver, TimeSeries(UP, [(2000, 2.0), (3000, 3.0)]))  # a resend of 2000, then new
    assert held(store) == {"api": [(1000, 1.0), (2000, 2.0), (3000, 3.0)], "db": [(1000, 0.0)]}


@pytest.mark.parametrize(
    "late",
    [
        TimeSeries(UP, [(1500, 9.0)]),  # older than the newest held
        TimeSeries(UP, [(2000, 9.0)]),  # the newest's time, another value
        TimeSeries(DOWN, [(5000, 1.0), (4000, 1.0)]),  # out of order within the request
    ],
)
def test_an_out_of_order_sample_refuses_the_whole_request(late: TimeSeries) -> None:
    store = SeriesStore()
    receiver = RemoteWriteReceiver(store)
    push(receiver, TimeSeries(UP, [(1000, 1.0), (2000, 2.0)]))
    with pytest.raises(OutOfOrder):
        push(receiver, TimeSeries(UP, [(9000, 5.0)]), late)
    assert held(store) == {"api": [(1000, 1.0), (2000, 2.0)]}


def test_a_series_split_over_two_entries_is_checked_as_one() -> None:
    store = SeriesStore()
    receiver = RemoteWriteReceiver(store)
    push(receiver, TimeSeries(UP, [(1000, 1.0)]), TimeSeries(UP, [(2000, STALE_NAN)]))
    ((t, v),) = held(store)["api"][1:]
    assert t == 2000 and math.isnan(v)


def test_pushed_samples_are_in_the_wal_and_none_while_it_replays(tmp_path: Path) -> None:
    store = SeriesStore()
    wal, _ = recover(tmp_path, store, fsync_s=0, segment_bytes=1 << 16)
    replaying = [True]
    receiver = RemoteWriteReceiver(store, replaying=lambda: replaying[0])
    with pytest.raises(NotYet):
        push(receiver, TimeSeries(UP, [(1000, 1.0)]))
    replaying[0] = False
    push(receiver, TimeSeries(UP, [(1000, 1.0)]))
    wal.close()
    back = SeriesStore()
    replay(tmp_path, back)
    assert held(back) == {"api": [(1000, 1.0)]}
    assert np.array_equal(back.view().values, [1.0])

"""Event windows, pure: one batch at a time on a fake clock, the windows and series asserted."""

from __future__ import annotations

import gzip
import math
from typing import Any

import numpy as np
import pytest

from safeship.config.events import FieldsSpec
from safeship.core.clock import VirtualClock
from safeship.events.decode import BatchTooLarge, decode
from safeship.events.schema import Reader
from safeship.events.sketch import LatencySketch
from safeship.events.windows import Aggregator, Window, merge, samples, series_labels

T0 = 1_700_000_040.0  # a minute boundary
FIVE = 1_699_999_800  # a 5-minute boundary
FIELDS = FieldsSpec(values=["risk_score"], labels={"region": "geo.region"})


def event(n: int, *, t: float = T0, service: str = "pay", **extra: Any) -> dict[str, Any]:
    return {"id": f"e{n}", "service": service, "timestamp": t, "latency_ms": 100.0, **extra}


def run(events: list[dict[str, Any]], *, clock: VirtualClock, agg: Aggregator) -> Any:
    batch, bad = Reader(FIELDS, future_skew_s=60).read(events, now=clock.now())
    assert bad == []
    return agg.add(batch, now=clock.now())


def aggregator() -> Aggregator:
    return Aggregator(values=1, grace_s=120, accuracy=0.01)


def test_one_minute_window_counts_errors_latency_and_values() -> None:
    clock, agg = VirtualClock(T0 + 5), aggregator()
    events = [event(i, t=T0 + i % 50, latency_ms=float(i + 1), risk_score=i) for i in range(100)]
    for e in events[:10]:
        e["level"] = "ERROR"
    added = run(events, clock=clock, agg=agg)
    (window,) = agg.windows.values()
    assert (added.accepted, window.start, window.count, window.errors) == (100, T0, 100, 10)
    assert window.error_ratio == pytest.approx(0.1)
    assert window.quantiles()[0.5] == pytest.approx(0.050, rel=0.02)
    assert window.quantiles()[0.99] == pytest.approx(0.099, rel=0.02)
    assert (window.mean(0), window.top(0)) == (pytest.approx(49.5), 99.0)


def test_services_and_chosen_labels_make_separate_windows() -> None:
    clock, agg = VirtualClock(T0 + 5), aggregator()
    run(
        [
            event(1, service="pay", geo={"region": "eu"}),
            event(2, service="pay", geo={"region": "us"}),
            event(3, service="auth", version="v2"),
            event(4, t=T0 + 60, service="pay", geo={"region": "eu"}),
        ],
        clock=clock,
        agg=agg,
    )
    keys = sorted(
        (dict(s)["service"], dict(s).get("region", dict(s).get("version")), start)
        for s, start in agg.windows
    )
    assert keys == [
        ("auth", "v2", T0),
        ("pay", "eu", T0),
        ("pay", "eu", T0 + 60),
        ("pay", "us", T0),
    ]


def test_late_event_within_grace_updates_its_window_later_one_is_dropped() -> None:
    clock, agg = VirtualClock(T0 + 5), aggregator()
    run([event(1)], clock=clock, agg=agg)
    clock.advance(60 + 110)  # window ended 115s ago: inside the 120s grace
    added = run([event(2, t=T0 + 30)], clock=clock, agg=agg)
    assert (added.accepted, agg.windows[(next(iter(agg.windows))[0], int(T0))].count) == (1, 2)
    clock.advance(20)  # now 5s past the grace
    added = run([event(3, t=T0 + 30)], clock=clock, agg=agg)
    assert (added.accepted, added.late) == (0, 1)


def test_a_repeated_event_id_counts_once_within_the_grace_horizon() -> None:
    clock, agg = VirtualClock(T0 + 5), aggregator()
    run([event(1), event(2)], clock=clock, agg=agg)
    added = run([event(1), event(2), event(3)], clock=clock, agg=agg)
    assert (added.accepted, added.duplicates) == (1, 2)
    assert next(iter(agg.windows.values())).count == 3
    assert added.ids == {int(T0): ["e3"]}


def test_expired_windows_forget_their_ids_and_series() -> None:
    clock, agg = VirtualClock(T0 + 5), aggregator()
    run([event(1)], clock=clock, agg=agg)
    clock.advance(181)
    closed = agg.expire(clock.now())
    assert (len(closed), agg.windows, agg.seen, agg.series) == (1, {}, {}, set())


def test_series_over_the_limit_are_refused() -> None:
    clock = VirtualClock(T0 + 5)
    agg = Aggregator(values=1, grace_s=120, accuracy=0.01, max_series=1)
    added = run([event(1, service="a"), event(2, service="b")], clock=clock, agg=agg)
    assert (added.accepted, added.over_limit) == (1, 1)


def test_roll_up_merges_sketches_so_quantiles_cover_every_event() -> None:
    rng = np.random.default_rng(7)
    minutes = [rng.lognormal(-3 + i, 0.5, 2000) for i in range(5)]  # each minute slower
    windows = []
    for i, values in enumerate(minutes):
        w = Window.empty((("service", "pay"),), 60, FIVE + 60 * i, values=0, accuracy=0.01)
        w.latency.add_many(values)
        w.count = values.size
        windows.append(w)
    (five,) = merge(windows, resolution_s=300)
    everything = np.concatenate(minutes)
    assert (five.start, five.count) == (FIVE, 10_000)
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(everything, q, method="lower"))
        assert five.latency.quantile(q) == pytest.approx(exact, rel=0.021)


def test_window_state_survives_encoding() -> None:
    w = Window.empty((("service", "pay"),), 60, int(T0), values=1, accuracy=0.01)
    w.latency.add_many(np.array([0.0, 0.01, 0.2, 3.0, math.nan]))
    w.count, w.errors, w.sums, w.counts, w.maxes = 5, 1, [4.0], [2], [3.0]
    back = Window.decode(w.series, 60, w.start, count=5, errors=1, state=w.encode())
    assert back.quantiles() == w.quantiles()
    assert (back.latency.count, back.latency.max, back.sums, back.maxes) == (4, 3.0, [4.0], [3.0])


def test_a_window_becomes_the_documented_series() -> None:
    w = Window.empty((("service", "pay"), ("version", "v2")), 60, int(T0), values=1, accuracy=0.01)
    w.latency.add_many(np.array([0.1]))
    w.count, w.errors, w.sums, w.counts, w.maxes = 4, 1, [2.0], [1], [2.0]
    labelled = [(dict(series_labels(w.series, n, q)), v) for n, q, v in samples(w, ["risk_score"])]
    assert all(labels["service"] == "pay" and labels["version"] == "v2" for labels, _ in labelled)
    names = {(labels["__name__"], labels.get("quantile")): value for labels, value in labelled}
    assert names[("safeship_events_total", None)] == 4
    assert names[("safeship_events_errors_total", None)] == 1
    assert names[("safeship_event_latency_seconds", "0.99")] == pytest.approx(0.1, rel=0.02)
    assert names[("safeship_event_risk_score_mean", None)] == 2.0
    assert names[("safeship_event_risk_score_max", None)] == 2.0


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"timestamp": T0}, "expected a service name at 'service'"),
        ({"service": "pay"}, "expected a timestamp at 'timestamp'"),
        ({"service": "pay", "timestamp": "yesterday"}, "expected a timestamp"),
        ({"service": "pay", "timestamp": T0 + 3600}, "ahead of the clock"),
        ({"service": "pay", "timestamp": T0, "latency_ms": -1}, "expected a latency >= 0"),
        (
            {"service": "pay", "timestamp": T0, "risk_score": "high"},
            "expected a number at 'risk_score'",
        ),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_malformed_events_are_refused_with_the_reason(bad: Any, reason: str) -> None:
    batch, refused = Reader(FIELDS, future_skew_s=60).read([bad], now=T0)
    assert len(batch) == 0
    assert reason in refused[0].reason


def test_timestamps_in_milliseconds_and_rfc3339_and_status_errors() -> None:
    fields = FieldsSpec(status="http.status", level=None, latency="took", latency_unit="s")
    events = [
        {"service": "a", "timestamp": T0 * 1000, "http": {"status": 503}, "took": 0.5},
        {"service": "a", "timestamp": "2023-11-14T22:14:00Z", "http": {"status": "200"}},
    ]
    batch, bad = Reader(fields, future_skew_s=60).read(events, now=T0)
    assert bad == []
    assert batch.times == [T0, T0]
    assert batch.errors == [True, False]
    assert batch.latencies[0] == 0.5 and math.isnan(batch.latencies[1])


def test_batches_decode_from_json_arrays_ndjson_and_gzip_within_limits() -> None:
    ndjson = b'{"a": 1}\nnot json\n\n{"a": 2}\n'
    events, bad = decode(ndjson, max_bytes=1000, max_events=10)
    assert (events, [b.reason for b in bad]) == (
        [{"a": 1}, {"a": 2}],
        ["expected one JSON object per line"],
    )
    assert decode(gzip.compress(b'[{"a": 1}]'), gzip=True, max_bytes=1000, max_events=10)[0] == [
        {"a": 1}
    ]
    with pytest.raises(BatchTooLarge):
        decode(b"[" + b"{}," * 10 + b"{}]", max_bytes=1000, max_events=10)
    with pytest.raises(BatchTooLarge):  # a bomb stops at the limit
        decode(gzip.compress(b" " * 10_000_000), gzip=True, max_bytes=100_000, max_events=10)


def test_bulk_binning_matches_adding_one_value_at_a_time() -> None:
    from ddsketch import DDSketch

    values = np.random.default_rng(1).exponential(0.2, 5000)
    bulk, single = LatencySketch(0.01), DDSketch(0.01)
    bulk.add_many(values)
    for v in values:
        single.add(float(v))
    for q in (0.5, 0.9, 0.99):
        assert bulk.quantile(q) == pytest.approx(single.get_quantile_value(q), rel=1e-9)


def _one_by_one(reader: Reader, events: list[Any]) -> tuple[str, list[str]]:
    """What reading each event alone gives (the per-event path), as comparable text."""
    merged, reasons = Reader.read(reader, [], now=T0)[0], []
    for e in events:
        batch, bad = reader.read([e], now=T0)
        for name in ("ids", "series", "times", "errors", "latencies", "values"):
            getattr(merged, name).extend(getattr(batch, name))
        reasons += [m.reason for m in bad]
    return repr(merged), reasons


MIXED = [
    event(1, t=T0 * 1000, level="ERROR", risk_score=-2, geo={"region": "eu"}, version="v2"),
    event(2, latency_ms=None, level=None, risk_score=None, geo={"region": ""}, version=7),
    event(3, t=T0 - 30.5, latency_ms=12, risk_score=3, geo={"region": 5}),
    {"service": "cart", "timestamp": int(T0), "id": 99, "geo": {}},
    {"service": "cart", "timestamp": T0, "id": 1.5, "geo": "flat", "level": "info"},
    event(4, service="pay", level="fatal", version=None, geo={"region": "us"}),
]


@pytest.mark.parametrize(
    "fields",
    [FIELDS, FieldsSpec(status="code", values=["a.b"], id=None, latency=None, version=None)],
)
def test_a_batch_read_by_columns_equals_each_event_read_alone(fields: FieldsSpec) -> None:
    reader = Reader(fields, future_skew_s=60)
    events = [*MIXED, *({**e, "code": c, "a": {"b": c / 2}} for c, e in enumerate(MIXED))]
    for some in (events, events[:2]):  # mixed types in a column, and one type with blanks
        assert reader._columns(some, T0) is not None  # the column path takes this batch
        batch, bad = reader.read(some, now=T0)
        assert (repr(batch), [m.reason for m in bad]) == _one_by_one(reader, some)
        assert len(batch) == len(some)


@pytest.mark.parametrize(
    "odd",
    [
        {"service": "pay", "timestamp": "2023-11-14T22:14:00Z"},  # text time: accepted
        {"service": "pay", "timestamp": T0, "latency_ms": -1},
        {"service": "", "timestamp": T0},
        {"service": "pay", "timestamp": T0 + 3600},
        {"service": "pay", "timestamp": T0, "risk_score": math.inf},
        {"service": "pay", "timestamp": T0, "geo": {"region": "x" * 200}},
        {"service": "pay", "timestamp": True},
        [1, 2],
    ],
)
def test_a_batch_with_an_unusual_event_reads_as_each_event_alone(odd: Any) -> None:
    reader = Reader(FIELDS, future_skew_s=60)
    events = [MIXED[0], odd, MIXED[1]]
    batch, bad = reader.read(events, now=T0)
    assert (repr(batch), [m.reason for m in bad]) == _one_by_one(reader, events)


def test_bulk_binning_in_chunks_that_widen_the_range_matches_one_at_a_time() -> None:
    from ddsketch import DDSketch

    rng = np.random.default_rng(2)
    chunks = [rng.uniform(0.1, 0.2, 300), rng.uniform(0.001, 5.0, 300), [0.0, 0.15], [9.0]]
    bulk, single = LatencySketch(0.01), DDSketch(0.01)
    for chunk in chunks:
        bulk.add_many(np.asarray(chunk, dtype=np.float64))
        for v in chunk:
            single.add(float(v))
    assert bulk.count == single.count
    for q in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        assert bulk.quantile(q) == single.get_quantile_value(q)
    assert LatencySketch.decode(bulk.encode()).quantile(0.99) == single.get_quantile_value(0.99)


def _added(agg: Aggregator, events: list[dict[str, Any]], now: float) -> Any:
    batch, _ = Reader(FIELDS, future_skew_s=600).read(events, now=now)
    added = agg.add(batch, now=now)
    touched = [(w.series, w.start, w.count, w.errors, w.latency.count) for w in added.touched]
    counts = (added.accepted, added.duplicates, added.late, added.over_limit)
    return counts, touched, added.ids, agg.seen, agg.series


@pytest.mark.parametrize(
    "batches",
    [
        [[event(n, t=T0 + n % 150, service=f"s{n % 7}") for n in range(60)]] * 2,  # usual
        [[event(n % 5, t=T0 + n) for n in range(20)]],  # ids repeated within the batch
        [[event(n, t=T0 - 400 + n * 10, service=f"s{n % 3}") for n in range(40)]],  # late
        [[event(n, t=T0 - 400 + n * 10, service=f"s{n}") for n in range(80)]],  # limit
        [[event(1), {"service": "pay", "timestamp": T0}, event(2, t=T0 - 300)]],  # id-less
        [[event(n, t=T0 - 3600) for n in range(3)]],  # all late
    ],
)
def test_grouping_a_batch_at_once_equals_grouping_it_event_by_event(
    batches: list[list[dict[str, Any]]],
) -> None:
    now = T0 + 60
    fast = Aggregator(values=1, grace_s=120, accuracy=0.01, max_series=40)
    slow = Aggregator(values=1, grace_s=120, accuracy=0.01, max_series=40)
    slow._group = slow._group_each  # type: ignore[method-assign]
    for events in batches:
        assert _added(fast, events, now) == _added(slow, events, now)

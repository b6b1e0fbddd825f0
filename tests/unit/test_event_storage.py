"""Stored event windows on a fake clock: roll-ups once a bucket is final (and only once),
pruning per tier, SLA over the finest tier that covers a range."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from safeship.config.events import EventsSpec
from safeship.core.clock import VirtualClock
from safeship.core.errors import StoreError
from safeship.events.pipeline import EventHub
from safeship.events.storage import EventStorage, finest_covering

HOUR = 1_699_999_200  # an hour boundary
GRACE = 120.0


class Hub(EventHub):
    clock: VirtualClock


@pytest.fixture
def events_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"  # tests/integration: PostgreSQL


@pytest.fixture
def hub(events_url: str) -> Iterator[Hub]:
    storage = EventStorage.open(events_url)
    clock = VirtualClock(HOUR)
    made = Hub(EventsSpec(grace=GRACE), storage=storage, store=None, clock=clock)
    made.clock = clock
    made.restore()
    yield made
    storage.close()


def feed(hub: EventHub, clock: VirtualClock, *, minutes: int, per_minute: int = 10) -> None:
    """Events every minute, sent as they happen, one in ten an error, latency rising."""
    pipeline = hub.http_stream(None)
    for m in range(minutes):
        start = clock.now()
        events = [
            {
                "id": f"{m}-{i}",
                "service": "pay",
                "timestamp": start + i,
                "latency_ms": 10.0 * (m + 1),
                "level": "error" if i == 0 else "info",
            }
            for i in range(per_minute)
        ]
        pipeline.ingest(events)
        clock.advance(60)
        hub.housekeeping()


def counts(hub: EventHub, resolution: int) -> list[tuple[int, int, int]]:
    rows = hub.storage.rows(service="pay", resolution_s=resolution, frm=0, to=2**40)
    return [(r.start - HOUR, r.count, r.errors) for r in rows]


def test_five_minute_and_hour_windows_are_merged_from_their_children_once_final(
    hub: Hub,
) -> None:
    clock = hub.clock
    feed(hub, clock, minutes=70)
    five = counts(hub, 300)
    # final = a bucket whose end is at least grace + 1m behind now (70m): up to 65m
    assert five == [(s, 50, 5) for s in range(0, 65 * 60, 300)][: len(five)]
    assert len(five) == 13
    assert counts(hub, 3600) == [(0, 600, 60)]
    (hour,) = hub.storage.rows(service="pay", resolution_s=3600, frm=0, to=2**40)
    expected = np.quantile(np.repeat(np.arange(1, 61) * 0.01, 10), 0.99, method="lower")
    assert hour.p99 == pytest.approx(expected, rel=0.02)  # merged sketches, not averaged p99s
    hub.housekeeping()  # again: nothing is counted twice
    assert counts(hub, 3600) == [(0, 600, 60)]


def test_each_tier_is_pruned_after_its_retention(hub: Hub) -> None:
    clock = hub.clock
    feed(hub, clock, minutes=70)
    clock.advance(86_400)  # 1m windows older than a day go; 5m and 1h stay
    hub.housekeeping()
    assert counts(hub, 60) == []
    assert len(counts(hub, 300)) == 14  # 65-70m is final now, and so is the second hour:
    assert counts(hub, 3600) == [(0, 600, 60), (3600, 100, 10)]
    clock.advance(30 * 86_400)
    hub.housekeeping()
    assert counts(hub, 300) == counts(hub, 3600) == []


def test_sla_uses_the_finest_tier_that_still_covers_the_range() -> None:
    tiers = EventsSpec().retention_s
    assert [finest_covering(tiers, s) for s in (3600, 86_400, 2 * 86_400, 30 * 86_400)] == [
        60,
        60,
        300,
        3600,
    ]


def test_a_roll_up_waits_for_late_events_within_the_grace_period(hub: Hub) -> None:
    clock = hub.clock
    feed(hub, clock, minutes=5)
    clock.advance(100)  # the last minute's window takes late events until 5m + 120s
    hub.housekeeping()
    assert counts(hub, 300) == []
    late = {"id": "late", "service": "pay", "timestamp": HOUR + 290, "latency_ms": 1.0}
    assert hub.http_stream(None).ingest([late]).accepted == 1
    clock.advance(200)
    hub.housekeeping()
    assert counts(hub, 300) == [(0, 51, 5)]


def test_a_failed_commit_counts_nothing_and_the_retry_counts_once(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = hub.http_stream(None)
    events = [
        {"id": f"f{i}", "service": "pay", "timestamp": HOUR, "latency_ms": 5} for i in range(3)
    ]

    def database_down(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(hub.storage, "save", database_down)
    with pytest.raises(StoreError):
        pipeline.ingest(events)
    monkeypatch.undo()
    assert pipeline.ingest(events).accepted == 3  # not taken for duplicates of the failed try
    assert counts(hub, 60) == [(0, 3, 0)]


def test_late_and_malformed_events_are_counted_and_dead_lettered_with_the_reason(hub: Hub) -> None:
    pipeline = hub.http_stream(None)
    hub.clock.advance(60 + GRACE + 1)  # the first minute's window is closed now
    late = {"id": "l", "service": "pay", "timestamp": HOUR + 5, "latency_ms": 1}
    bad = {"id": "b", "service": "pay", "latency_ms": 1}
    done = pipeline.ingest([late, bad, "text"])
    assert (done.accepted, done.late, done.malformed) == (0, 1, 2)
    reasons = sorted(d["reason"] for d in hub.storage.dead_letters())
    assert reasons == ["expected a JSON object", "expected a timestamp at 'timestamp'"]
    hub.config = hub.config.model_copy(update={"dead_letters": 1})
    hub.housekeeping()
    assert hub.storage.dead_letter_count() == 1  # only the newest are kept

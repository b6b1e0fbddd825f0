"""One stream's path from decoded events to durable windows and queryable series.

Where it sits: "event sources ─▶ windows ─▶ metric store" (DESIGN §2). Every source (HTTP
ingest, the NATS consumer) calls `ingest`; when it returns the batch's windows, ids and dead
letters are committed (events/storage.py) and the windows' series are in the metric store,
so the source may ack. A failed commit rolls the in-memory windows back to what is stored
and raises: the source does not ack, the sender retries, nothing is counted twice.
`EventHub` holds every stream's pipeline and runs the housekeeping job (close windows,
roll up, prune by tier).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from safeship.config.events import DEFAULT_STREAM, EventsSpec, StreamSpec
from safeship.core.clock import Clock
from safeship.core.errors import NotFound, StoreError
from safeship.core.labels import Labels
from safeship.events.schema import Malformed, Reader
from safeship.events.storage import EventStorage
from safeship.events.windows import MINUTE, Aggregator, Window, samples, series_labels
from safeship.metrics.store import SeriesStore

log = logging.getLogger(__name__)
LAGS_KEPT = 1000
RATE_SPAN_S = 60.0


@dataclass
class Ingested:
    """What one batch did; `accepted` events are durably counted."""

    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    over_limit: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class StreamStats:
    totals: Ingested = field(default_factory=Ingested)
    batches: int = 0
    lags_s: deque[float] = field(default_factory=lambda: deque(maxlen=LAGS_KEPT))
    recent: deque[tuple[float, int]] = field(default_factory=deque)  # (at, accepted)
    newest_event: float | None = None


class StreamPipeline:
    """Reader + aggregator + storage + metric store for one stream; thread-safe."""

    def __init__(
        self,
        spec: StreamSpec,
        config: EventsSpec,
        *,
        storage: EventStorage,
        store: SeriesStore | None,
        clock: Clock,
    ) -> None:
        self.spec, self.config, self._storage, self._store, self._clock = (
            spec,
            config,
            storage,
            store,
            clock,
        )
        self.reader = Reader(spec.fields, future_skew_s=config.future_skew)
        self._aggregator = self._new_aggregator()
        self._lock = threading.Lock()
        self._stale = False
        self._refs: dict[Labels, dict[tuple[str, str | None], int]] = {}  # store refs
        self.stats = StreamStats()

    def _new_aggregator(self) -> Aggregator:
        return Aggregator(
            values=len(self.reader.value_names),
            grace_s=self.config.grace,
            accuracy=self.config.relative_accuracy,
            max_series=self.config.max_series,
        )

    @property
    def name(self) -> str:
        return self.spec.name

    def restore(self) -> None:
        """Take back open windows and seen ids from storage, and republish their series."""
        with self._lock:
            self._restore()

    def _restore(self) -> None:
        since = int(self._clock.now() - MINUTE - self.config.grace) - MINUTE
        aggregator = self._new_aggregator()
        windows = self._storage.open_windows(self.name, since=since)
        aggregator.restore(windows, self._storage.seen_ids(self.name, since=since))
        self._aggregator = aggregator
        self._publish(windows)

    def ingest(self, objects: Iterable[Any], *, malformed: Iterable[Malformed] = ()) -> Ingested:
        """Count a batch; on return it is durable and queryable (ack it then)."""
        received = self._clock.now()
        with self._lock:
            if self._stale:  # a commit failed: take the stored state back before counting
                self._restore()
                self._stale = False
            batch, bad = self.reader.read(objects, now=received)
            bad = [*malformed, *bad]
            added = self._aggregator.add(batch, now=received)
            try:
                self._storage.save(self.name, added.touched, ids=added.ids, dead=bad, now=received)
            except Exception as exc:
                self._stale = True  # memory ran ahead of the database
                raise StoreError(f"cannot store events of stream {self.name!r}: {exc}") from exc
            self._publish(added.touched)
            result = Ingested(
                added.accepted, added.duplicates, added.late, len(bad), added.over_limit
            )
            self._note(result, batch.times, received)
        return result

    def _publish(self, windows: Iterable[Window]) -> None:
        if self._store is None:
            return
        refs, times, values = [], [], []
        for window in windows:
            known = self._refs.get(window.series)
            if known is None:
                known = self._refs[window.series] = {}
            for name, quantile, value in samples(window, self.reader.value_names):
                ref = known.get((name, quantile))
                if ref is None:
                    labels = series_labels(window.series, name, quantile)
                    ref = known[(name, quantile)] = self._store.ref(labels)
                refs.append(ref)
                times.append(window.start * 1000)
                values.append(value)
        if refs:
            self._store.append_refs(
                np.asarray(refs, dtype=np.int64), np.asarray(times, dtype=np.int64), values
            )

    def _note(self, result: Ingested, times: list[float], received: float) -> None:
        stats = self.stats
        for key, value in result.as_dict().items():
            setattr(stats.totals, key, getattr(stats.totals, key) + value)
        stats.batches += 1
        now = self._clock.now()
        stats.lags_s.append(now - received)
        stats.recent.append((now, result.accepted))
        while stats.recent and stats.recent[0][0] < now - RATE_SPAN_S:
            stats.recent.popleft()
        if times:
            newest = max(times)
            stats.newest_event = max(newest, stats.newest_event or newest)

    def housekeeping(self) -> None:
        """Close windows past the grace period, roll them up, prune every tier."""
        now = self._clock.now()
        with self._lock:
            self._aggregator.expire(now)
        self._storage.roll_up(self.name, now=now, grace_s=self.config.grace)

    def snapshot(self) -> dict[str, Any]:
        """Counters, ingest rate (events/s over the last minute), lag p99 and open windows."""
        with self._lock:
            stats = self.stats
            lags = sorted(stats.lags_s)
            now = self._clock.now()
            return {
                "stream": self.name,
                "source": self.spec.source.kind,
                **stats.totals.as_dict(),
                "batches": stats.batches,
                "rate_per_s": sum(n for _, n in stats.recent) / RATE_SPAN_S,
                "ingest_lag_p99_s": lags[int(0.99 * (len(lags) - 1))] if lags else None,
                "event_lag_s": None
                if stats.newest_event is None
                else max(0.0, now - stats.newest_event),
                "open_windows": len(self._aggregator.windows),
                "series": len(self._aggregator.series),
            }


class EventHub:
    """Every stream's pipeline over one storage; the HTTP API and the consumers use it."""

    def __init__(
        self, config: EventsSpec, *, storage: EventStorage, store: SeriesStore | None, clock: Clock
    ) -> None:
        self.config, self.storage, self._clock = config, storage, clock
        streams = config.streams or [DEFAULT_STREAM]
        self.pipelines = {
            s.name: StreamPipeline(s, config, storage=storage, store=store, clock=clock)
            for s in streams
        }
        self.ready = False  # until restored: a batch before would miss the stored ids

    def restore(self) -> None:
        for pipeline in self.pipelines.values():
            pipeline.restore()
        self.ready = True

    def http_stream(self, name: str | None) -> StreamPipeline:
        """The pipeline an HTTP batch goes to: `?stream=NAME`, or the first HTTP stream."""
        spec = self.config.stream(name)
        if spec is None or spec.source.http is None:
            known = [p.name for p in self.pipelines.values() if p.spec.source.http is not None]
            raise NotFound(
                f"no HTTP event stream {name!r}; HTTP streams: {', '.join(known) or 'none'}"
            )
        return self.pipelines[spec.name]

    def housekeeping(self) -> int:
        for pipeline in self.pipelines.values():
            pipeline.housekeeping()
        return self.storage.prune(
            retention_s=self.config.retention_s,
            now=self._clock.now(),
            grace_s=self.config.grace,
            dead_letters=self.config.dead_letters,
        )

    async def keep(self, *, every_s: float = 10.0) -> None:
        """The housekeeping job, forever (wiring runs it beside the scraper)."""
        while True:
            try:
                await asyncio.to_thread(self.housekeeping)
            except Exception as exc:  # a database hiccup: windows stay stored, retry later
                log.warning("event housekeeping failed: %s", exc)
            await self._clock.sleep(every_s)

    def stats(self) -> dict[str, Any]:
        streams = [p.snapshot() for p in self.pipelines.values()]
        return {"streams": streams, "dead_letters": self.storage.dead_letter_count()}

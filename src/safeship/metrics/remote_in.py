"""Remote write in: a Prometheus (or an agent) pushes samples into the embedded store.

Where it sits: `POST /api/v1/write` (server/remote_write_api.py) hands the body here, in a
worker thread; samples go into the store through `SeriesStore.append_in_order`, so through
the WAL, before the request is answered: a 204 means the samples are as durable as the WAL's
fsync policy makes anything (docs/metrics.md). Out-of-order and conflicting samples refuse
the whole request with 400 and append nothing, as Prometheus' receiver does (it rolls its
appender back), so the sender drops the batch instead of retrying it forever; repeats of a
sample already held are dropped quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from safeship.core.errors import InvalidInput, SafeshipError
from safeship.metrics.remote_proto import decode_write_request
from safeship.metrics.store import InOrder, SeriesStore


class OutOfOrder(InvalidInput):
    """Samples older than, or conflicting with, what the store holds (400: do not retry)."""


class NotYet(SafeshipError):
    """The WAL is still being replayed (503: the sender retries)."""

    http_status: ClassVar[int] = 503


class RemoteWriteReceiver:
    def __init__(
        self,
        store: SeriesStore,
        *,
        replaying: Callable[[], bool] = lambda: False,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._store, self._replaying = store, replaying
        self._samples = Counter(
            "safeship_remote_write_received_samples",
            "Samples appended from POST /api/v1/write",
            registry=registry,
        )
        self._refused = Counter(
            "safeship_remote_write_refused_samples",
            "Samples refused as out of order or conflicting (the whole request is refused)",
            registry=registry,
        )

    def receive(self, body: bytes) -> InOrder:
        """Decode and append a snappy WriteRequest; OutOfOrder (nothing kept) when refused."""
        if self._replaying():  # a sample now would land between replayed ones, unlogged
            raise NotYet("the WAL is being replayed; retry in a moment")
        series = decode_write_request(body)
        ref = self._store.ref
        refs: list[int] = []
        times: list[int] = []
        values: list[float] = []
        for one in series:
            if not one.labels or not one.samples:
                continue
            sid = ref(one.labels)
            refs.extend([sid] * len(one.samples))
            times.extend(t for t, _ in one.samples)
            values.extend(v for _, v in one.samples)
        found = self._store.append_in_order(
            np.asarray(refs, dtype=np.int64),
            np.asarray(times, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
        )
        if found.refused:
            self._refused.inc(found.out_of_order + found.conflicting)
            raise OutOfOrder(
                f"{found.out_of_order} sample(s) out of order and {found.conflicting} with"
                " another value at a time already held; nothing of this request was kept"
            )
        self._samples.inc(len(refs) - found.repeated)
        return found

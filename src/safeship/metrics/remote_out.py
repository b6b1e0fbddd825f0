"""Remote write out: serve's samples pushed to a Prometheus-compatible receiver, from the WAL.

Where it sits: "SeriesStore ─▶ Wal ─▶ <wal dir>/segment-N ─▶ WalTail ─▶ RemoteWriteQueue ─▶
POST url". Like Prometheus' queue manager, a queue reads what the store logged rather than
holding samples of its own, so its memory is bounded (`capacity` samples read at once) and an
outage of the receiver, or a restart of serve, loses nothing the WAL still holds: the queue
persists the WAL position the receiver last acknowledged (`<wal dir>/remote_write/<name>.json`)
and resumes from it. Segments are kept for it (wiring/wal.py) within the hot window.

Sending: batches of `max_samples_per_send` as snappy protobuf (metrics/remote_proto.py),
recoverable failures (5xx, 429, no connection) retried with exponential backoff between
`min_backoff` and `max_backoff` without end; other 4xx answers are final, the batch counted
failed and skipped, as Prometheus does. A record is resent whole after a kill mid-record:
the receiver drops repeats of a sample it holds.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
from pathlib import Path

import anyio
import httpx
import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_exponential,
)

from safeship import __version__
from safeship.config.remote_write import RemoteWriteConfig
from safeship.config.scrape import relabel
from safeship.core.clock import Clock
from safeship.core.errors import SafeshipError
from safeship.core.labels import Labels, make_labels
from safeship.core.secrets import SECRETS, resolve_secret
from safeship.metrics.remote_proto import (
    CONTENT_TYPE,
    PROTOCOL_VERSION,
    encode_columns,
    encode_labels,
)
from safeship.metrics.store import Floats, Ints, SeriesStore
from safeship.metrics.wal_format import SampleBatch
from safeship.metrics.wal_tail import Position, PositionFile, WalTail

log = logging.getLogger(__name__)
IDLE_S = 0.1  # how often an idle queue looks at the WAL again


class QueueMetrics:
    def __init__(self, name: str, url: str, registry: CollectorRegistry | None) -> None:
        labels = {"remote_name": name, "url": url}

        def counter(metric: str, text: str) -> Counter:
            c = Counter(metric, text, list(labels), registry=registry)
            return c.labels(**labels)

        self.sent = counter("safeship_remote_write_samples_sent", "Samples acknowledged")
        self.retried = counter(
            "safeship_remote_write_samples_retried", "Samples sent again after a failure"
        )
        self.failed = counter(
            "safeship_remote_write_samples_failed", "Samples refused for good by the receiver"
        )
        self.dropped = counter(
            "safeship_remote_write_samples_dropped",
            "Samples not sent: dropped by write_relabel_configs or of an unknown series",
        )
        self.skipped = counter(
            "safeship_remote_write_segments_skipped",
            "WAL segments deleted before the queue read them (an outage past the hot window)",
        )
        pending = Gauge(
            "safeship_remote_write_pending_samples",
            "Samples read from the WAL, not yet acknowledged",
            list(labels),
            registry=registry,
        )
        self.pending = pending.labels(**labels)


class Refused(SafeshipError):
    """The receiver refused a batch for good (4xx): retrying would not help."""


class Retryable(SafeshipError):
    """5xx, 429 or no answer: the same batch is sent again after a backoff."""


class RemoteWriteQueue:
    """One `remote_write` entry: tails the WAL and sends what it reads, in order."""

    def __init__(
        self,
        config: RemoteWriteConfig,
        *,
        store: SeriesStore,
        tail: WalTail,
        position_file: PositionFile,
        clock: Clock,
        registry: CollectorRegistry | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config, self._store, self._tail = config, store, tail
        self._positions, self._clock = position_file, clock
        self.metrics = QueueMetrics(config.queue_name, config.url, registry)
        self._client = client or _client(config)
        self._labels: dict[int, bytes | None] = {}
        self.acknowledged = tail.position

    async def run(self) -> None:
        """Forever: read up to `capacity` samples, send them in batches, persist the position."""
        queue = self.config.queue_config
        self._tail.rewind(self.acknowledged)  # what an earlier run read but never delivered
        buffered: list[tuple[SampleBatch, Position]] = []
        oldest = self._clock.now()
        while True:
            room = queue.capacity - sum(b.refs.size for b, _ in buffered)
            if room > 0:
                more = await anyio.to_thread.run_sync(self._tail.read, room)
                if more and not buffered:
                    oldest = self._clock.now()
                buffered += more
            count = sum(b.refs.size for b, _ in buffered)
            self.metrics.pending.set(count)
            self._note_skipped()
            due = self._clock.now() - oldest >= queue.batch_send_deadline
            if count >= queue.max_samples_per_send or (buffered and due):
                await self._send_all(buffered)
                buffered = []
                continue
            await self._clock.sleep(IDLE_S)

    async def _send_all(self, records: list[tuple[SampleBatch, Position]]) -> None:
        refs, times, values, ends = self._flatten(records)
        step = self.config.queue_config.max_samples_per_send
        start = self.acknowledged
        for lo in range(0, max(refs.size, 1), step):
            hi = min(lo + step, refs.size)
            if hi > lo:
                await self._deliver(refs[lo:hi], times[lo:hi], values[lo:hi])
            # Acknowledged: every record whose last sample is in this batch or before it.
            done = [position for end, position in ends if end <= hi]
            self._advance(done[-1] if done else start)
        self._advance(records[-1][1])

    def _flatten(
        self, records: list[tuple[SampleBatch, Position]]
    ) -> tuple[Ints, Ints, Floats, list[tuple[int, Position]]]:
        """All samples in WAL order, and for each record the sample count through its end."""
        refs, times, values, ends, total = [], [], [], [], 0
        for batch, position in records:
            n = batch.refs.size
            refs.append(batch.refs)
            times.append(np.broadcast_to(np.asarray(batch.times, dtype=np.int64), (n,)))
            values.append(batch.values)
            total += n
            ends.append((total, position))
        if not refs:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), ends
        return np.concatenate(refs), np.concatenate(times), np.concatenate(values), ends

    def _advance(self, position: Position) -> None:
        if position > self.acknowledged:
            self.acknowledged = position
            self._positions.save(position)

    async def _deliver(self, refs: Ints, times: Ints, values: Floats) -> None:
        """Send one batch until the receiver acknowledges or refuses it for good."""
        body, sent = self._encode(refs, times, values)
        self.metrics.dropped.inc(refs.size - sent)
        if not sent:
            return
        queue = self.config.queue_config
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Retryable),
            wait=wait_exponential(multiplier=queue.min_backoff, max=queue.max_backoff),
            stop=stop_never,
            sleep=self._clock.sleep,
            before_sleep=lambda state: self._retrying(state, sent),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(body)
            self.metrics.sent.inc(sent)
        except Refused:
            self.metrics.failed.inc(sent)

    def _retrying(self, state: RetryCallState, samples: int) -> None:
        self.metrics.retried.inc(samples)
        failure = state.outcome.exception() if state.outcome is not None else None
        log.warning("remote write to %s failed (%s); retrying", self.config.url, failure)

    async def _post(self, body: bytes) -> None:
        try:
            headers = {
                "Content-Encoding": "snappy",
                "Content-Type": CONTENT_TYPE,
                "User-Agent": f"safeship/{__version__}",
                "X-Prometheus-Remote-Write-Version": PROTOCOL_VERSION,
                **self._authorization(),
            }
            response = await self._client.post(self.config.url, content=body, headers=headers)
        except (httpx.TransportError, OSError) as exc:  # no answer, or no token file (yet)
            raise Retryable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        retry_429 = status == 429 and self.config.queue_config.retry_on_http_429
        if status >= 500 or retry_429:
            raise Retryable(f"HTTP {status}")
        if status >= 300:
            log.error("remote write to %s refused: HTTP %d %s", self.config.url, status,
                      response.text[:200])  # fmt: skip
            raise Refused(f"HTTP {status}: {response.text[:200]}")

    def _authorization(self) -> dict[str, str]:
        """Read for every send, as Prometheus does: a rotated token file is picked up."""
        config = self.config
        if config.basic_auth is not None:
            basic = config.basic_auth
            password = _secret(basic.password, basic.password_file) or ""
            pair = base64.b64encode(f"{basic.username}:{password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        token = _secret(config.bearer_token, config.bearer_token_file)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _encode(self, refs: Ints, times: Ints, values: Floats) -> tuple[bytes, int]:
        """The request body: samples grouped per series (in time order), relabelled, the
        dropped ones left out; and how many samples it holds."""
        order = np.argsort(refs, kind="stable")
        refs, times, values = refs[order], times[order], values[order]
        starts = np.flatnonzero(np.diff(refs, prepend=-1))
        ends = np.append(starts[1:], refs.size)
        labels = [self._labels_of(int(sid)) for sid in refs[starts].tolist()]
        kept = np.asarray([x is not None for x in labels], dtype=bool)
        if not kept.all():
            keep = np.repeat(kept, ends - starts)
            times, values = times[keep], values[keep]
            ends = np.cumsum((ends - starts)[kept])
        fields = [x for x in labels if x is not None]
        return encode_columns(fields, ends, times, values), int(times.size)

    def _labels_of(self, sid: int) -> bytes | None:
        """A series' label fields, relabelled and encoded once; None when dropped."""
        if sid not in self._labels:
            try:
                labels: Labels | None = self._store.labels(sid)
            except IndexError:
                labels = None
            rules = self.config.write_relabel_configs
            if labels is not None and rules:
                kept = relabel(dict(labels), rules)
                labels = None if kept is None else make_labels(kept)
            self._labels[sid] = None if labels is None else encode_labels(labels)
        return self._labels[sid]

    def _note_skipped(self) -> None:
        skipped = self._tail.skipped_segments
        if skipped:
            self.metrics.skipped.inc(skipped)
            self._tail.skipped_segments = 0

    async def aclose(self) -> None:
        await self._client.aclose()


def _secret(value: SecretStr | None, path: str | None) -> str | None:
    """A literal (or `${ENV}` reference), else a file's content; remembered as secret."""
    if value is not None:
        return resolve_secret(value.get_secret_value(), environ=os.environ)
    if path is None:
        return None
    found = Path(path).read_text().strip()
    SECRETS.add(found)
    return found


def _client(config: RemoteWriteConfig) -> httpx.AsyncClient:
    verify: bool | ssl.SSLContext = True
    tls = config.tls_config
    if tls is not None and tls.insecure_skip_verify:
        verify = False
    elif tls is not None:
        verify = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file and tls.key_file:
            verify.load_cert_chain(tls.cert_file, tls.key_file)
    return httpx.AsyncClient(timeout=config.remote_timeout, verify=verify)

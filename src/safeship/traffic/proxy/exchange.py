"""One proxied request: its tries on backends and the response relayed to the client.

The hot path of the embedded router (see frontend.py for the connection it belongs to): pick a
backend, send the rebuilt request on a pooled or fresh upstream connection, relay the answer,
retry on another backend when that is safe (`Exchange._failed`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from safeship.traffic.proxy.http import IDEMPOTENT, Payload
from safeship.traffic.proxy.upstream import EJECT_SECONDS, Backend, UpstreamConnection

if TYPE_CHECKING:
    from safeship.traffic.proxy.frontend import ClientConnection

_now = time.perf_counter


class Exchange:
    """One proxied request: its tries on backends and the response relayed to the client."""

    __slots__ = (
        "backend",
        "client",
        "connecting",
        "fresh_retry",
        "head_only",
        "held",
        "http10",
        "idempotent",
        "keep_alive",
        "moved",
        "over",
        "payload",
        "queued",
        "responded",
        "started",
        "tried",
        "upstream",
    )

    def __init__(
        self,
        client: ClientConnection,
        payload: Payload,
        method: bytes,
        keep_alive: bool,
        http10: bool = False,
        held: int = 0,
    ):
        """Positional arguments: one exchange is made per request."""
        self.client = client
        self.payload = payload
        self.idempotent = method in IDEMPOTENT
        self.head_only = method == b"HEAD"
        self.keep_alive = keep_alive
        self.http10 = http10
        self.held = held  # request body bytes counted against the router's buffer budget
        self.started = _now()
        self.tried: list[Backend] = []
        self.upstream: UpstreamConnection | None = None
        self.connecting = False
        self.responded = False  # a response byte reached the client: no retry possible
        self.moved = False  # response bytes since the timer last looked (inactivity check)
        self.queued = False  # waiting in backend.waiters for a connection
        self.over = False  # answered by the timeout: late events are ignored
        self.fresh_retry = False

    def start(self) -> None:
        backend = self.client.frontend.balancer.choose(_now())
        if backend is None:
            self.client.answer(self, 503, "no backend in any pool", self.client.frontend.unrouted)
        else:
            self._try(backend, False)

    # `fresh` is positional below: these run for every request.

    def _try(self, backend: Backend, fresh: bool) -> None:
        self.backend = backend
        backend.in_flight += 1  # Backend.begin, spelled out: once per request
        self._attach(backend, fresh)

    def _attach(self, backend: Backend, fresh: bool) -> None:
        connection = None if fresh else backend.take_idle()
        if connection is not None:
            self.upstream = connection
            connection.send(self, self.payload)
        elif 0 < self.client.frontend.max_connections <= backend.connections:
            self.queued = True  # at the cap: the next freed connection is ours
            backend.waiters.append(self)
        else:
            self.connecting = True
            backend.reserve()
            self.client.frontend.spawn(self._connect(backend))

    def proceed(self) -> None:
        """Called by the backend when a connection is pooled or closed while we queue."""
        self.queued = False
        self._attach(self.backend, False)

    async def _connect(self, backend: Backend) -> None:
        try:
            connection = await backend.connect(within=self.client.frontend.connect_timeout)
        except (OSError, TimeoutError):
            self.connecting = False
            if not self.over:
                self._failed(backend, connect=True, reused=False)
            return
        self.connecting = False
        if self.over:  # answered 504 meanwhile (the backend was already ended)
            backend.release(connection, keep_alive=True)
            return
        if self.client.gone:  # nobody waits any more; keep the connection for the next one
            backend.release(connection, keep_alive=True)
            backend.end()
            return
        self._send(connection)

    def _send(self, connection: UpstreamConnection) -> None:
        self.upstream = connection
        connection.send(self, self.payload)

    def relays_verbatim(self) -> bool:
        return self.keep_alive and not self.http10 and not self.client.frontend.closing

    def on_interim(self, head: bytes) -> None:
        if not self.http10:  # an HTTP/1.0 client cannot take a 1xx (RFC 9110 §15.2)
            self.on_response_data(head + b"\r\n\r\n")

    def on_response_head(self, head: bytes, *, close: bool, body: bytes = b"") -> None:
        """Say what becomes of the client connection: the backend's Connection header was
        about the upstream one and is gone from `head`."""
        if close or self.client.frontend.closing:
            self.keep_alive = False
        if not self.keep_alive:
            self.on_response_data(head + b"Connection: close\r\n\r\n" + body)
        elif self.http10:
            self.on_response_data(head + b"Connection: keep-alive\r\n\r\n" + body)
        else:
            self.on_response_data(head + b"\r\n" + body)

    def on_response_data(self, data: bytes) -> None:
        self.responded = self.moved = True
        transport = self.client.transport  # written directly: once or more per request
        if transport is not None:
            transport.write(data)

    def on_response_complete(self, status: int) -> None:
        backend = self.backend
        self.upstream = None
        backend.end()
        backend.stats.record(status, _now() - self.started)
        self.client.finished(self)

    def on_upstream_lost(self, *, status: int, reused: bool) -> None:
        backend = self.backend
        self.upstream = None
        if self.responded:  # half a response is out: all we can do is end the client connection
            backend.end()
            backend.stats.record(status or 502, _now() - self.started)
            self.client.abort(self)
            return
        self._failed(backend, connect=False, reused=reused)

    def _failed(self, backend: Backend, *, connect: bool, reused: bool) -> None:
        """Retry when no response byte was received and a resend cannot do harm: the connect
        failed, or the method is idempotent. A reused keep-alive connection that turned out
        closed is first retried on a fresh connection to the same backend."""
        backend.end()
        if self.client.gone:
            return
        if reused and self.idempotent and not self.fresh_retry and backend.usable:
            self.fresh_retry = True
            self._try(backend, True)
            return
        if connect:
            backend.ejected_until = _now() + EJECT_SECONDS
        if connect or self.idempotent:
            self.tried.append(backend)
            after = self.client.frontend.balancer.retry(
                now=_now(), tried=self.tried, canary_first=backend.pool == "canary"
            )
            if after is not None:
                self._try(after, False)
                return
        self.client.answer(self, 502, "every backend tried failed", backend.stats)

    def abandon(self) -> None:
        """The client went away: stop relaying; an attached upstream connection is dropped."""
        if self.upstream is not None:
            self.upstream.detach()
            self.upstream = None
            self.backend.end()
        elif self.queued:
            self.queued = False
            self.backend.waiters.remove(self)
            self.backend.end()
        # a connect in progress finds `client.gone` and ends the backend itself

    def expire(self) -> None:
        """No response (or no more of it) within the response timeout: 504, or cut the client
        if part of the response is already out. Never retried: the backend got the request."""
        self.over = True
        backend = self.backend
        if self.connecting:  # the connect task sees `over` and pools its connection
            backend.end()
        else:
            self.abandon()  # drops the upstream connection or leaves the queue
        if self.responded:
            backend.stats.record(504, _now() - self.started)
            self.client.abort(self)
            return
        message = f"backend did not answer within {self.client.frontend.timeouts.response:g}s"
        self.client.answer(self, 504, message, backend.stats)

"""Client side of the embedded router: accept requests, send each one upstream, relay the answer.

A `ClientConnection` parses requests (httptools) and runs them one at a time, in order, as
`Exchange`s (exchange.py): each asks the `Balancer` for a backend, sends the rebuilt request
on a pooled or fresh upstream connection, relays the response bytes as they come, and retries
on another backend when that is safe. Request bodies are buffered (up to MAX_BODY_BYTES) so a
retry can resend them; response bodies stream through.

Timeouts (`Timeouts`) cost one timer per client connection, not one per request: a state
change only moves a deadline (an attribute write), and the timer, when it fires, re-arms
itself for the deadline in force (`ClientConnection._expired`). A connection is in one phase:
- HEAD: a request has begun (or the connection is new) and its head and body must arrive
  within `header` seconds, else 408 and close (a new connection that sent nothing is just
  closed); slow-header (slowloris) clients cannot hold connections;
- IDLE: keep-alive between requests, closed after `idle` seconds;
- BUSY: a request is proxied; no response byte for `response` seconds answers 504 (tagged
  `X-Safeship-Router: error`, counted as 504 for the backend's version). Once bytes flow it
  is an inactivity timeout, checked with a flag per chunk (so a stall is cut after 1-2x it).
A timed-out request is never retried: it was sent, and the backend may still act on it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, cast

import httptools

from safeship.traffic.proxy.exchange import Exchange
from safeship.traffic.proxy.http import (
    CONTINUE,
    HOP_BY_HOP,
    forwarded_for,
    router_error,
    upstream_request,
)
from safeship.traffic.proxy.pools import Balancer
from safeship.traffic.proxy.stats import PoolStats, RouterStats
from safeship.traffic.proxy.timeouts import Timeouts
from safeship.traffic.proxy.upstream import Backend

MAX_BODY_BYTES = 8 * 1024 * 1024
_now = time.perf_counter
_IDLE, _HEAD, _BUSY = 0, 1, 2  # phases of a client connection, see the module docstring


class Frontend:
    """What every client connection of one router shares: the routing table and the counters."""

    def __init__(self, *, stats: RouterStats, timeouts: Timeouts) -> None:
        self.balancer: Balancer[Backend] = Balancer()
        self.unrouted = stats.for_(version="none", pool="none")  # 503s: no backend to blame
        self.timeouts = timeouts
        self.connect_timeout = timeouts.connect
        self.max_connections = timeouts.max_connections or 0
        self.connections: set[ClientConnection] = set()
        self.closing = False
        self.tasks: set[asyncio.Task[None]] = set()  # connect tasks, referenced until done
        self._none_left = asyncio.Event()

    async def all_closed(self) -> None:
        """Returns once every client connection is closed (used when stopping)."""
        if self.connections:
            self._none_left.clear()
            await self._none_left.wait()

    def forget(self, connection: ClientConnection) -> None:
        self.connections.discard(connection)
        if not self.connections:
            self._none_left.set()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class ClientConnection(asyncio.Protocol):
    """One client connection: requests are parsed as they come and proxied one at a time."""

    def __init__(self, frontend: Frontend) -> None:
        self.frontend = frontend
        self.transport: asyncio.Transport | None = None
        self.gone = False
        self._peer = b"unknown"
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[Exchange] = deque()
        self._active: Exchange | None = None
        self._reading = False  # a request has begun and is not complete yet
        self._phase = _HEAD
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: list[bytes] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._xff: bytes | None = None
        self._rejected = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]).encode("ascii", "replace") if peer else b"unknown"
        self.frontend.connections.add(self)
        self._watch(_HEAD, _now() + self.frontend.timeouts.header)  # the first request too

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.frontend.forget(self)
        if self._active is not None:
            self._active.abandon()
            self._active = None
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(501, "protocol upgrades are not supported")
        except httptools.HttpParserError:
            self._reject(400, "malformed request")
        if self._reading and self._phase == _IDLE:  # a keep-alive request began: head timeout
            self._watch(_HEAD, _now() + self.frontend.timeouts.header)

    def pause_writing(self) -> None:  # the client reads slower than the backend answers
        if self._active is not None and self._active.upstream is not None:
            self._active.upstream.pause()

    def resume_writing(self) -> None:
        if self._active is not None and self._active.upstream is not None:
            self._active.upstream.resume()

    # httptools callbacks

    # Only the callbacks needed are defined: httptools skips missing ones, and each costs a
    # Python call per request. The per-request state is reset after each message instead.

    def on_message_begin(self) -> None:
        self._reading = True

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered not in HOP_BY_HOP:
            self._headers.append(name + b": " + value + b"\r\n")
        elif lowered == b"x-forwarded-for":
            self._xff = value if self._xff is None else self._xff + b", " + value
        elif lowered == b"expect" and value.lower() == b"100-continue" and self.transport:
            self.transport.write(CONTINUE)  # the body is buffered here: the router says "go on"

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > MAX_BODY_BYTES:
            self._reject(413, f"request body over {MAX_BODY_BYTES} bytes")
        elif not self._rejected:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._reading = False
        if self._rejected or self.gone:
            return
        parser = self._parser
        method = parser.get_method()
        payload = upstream_request(
            method=method,
            target=self._url,
            headers=self._headers,
            forwarded_for=forwarded_for(self._xff, self._peer),
            body=b"".join(self._body),
        )
        exchange = Exchange(self, payload, method=method, keep_alive=parser.should_keep_alive())
        self._reset()
        if self._active is None:
            self._active = exchange
            self._watch(_BUSY, exchange.started + self.frontend.timeouts.response)
            exchange.start()
        else:
            self._queue.append(exchange)  # pipelined: answered in order

    # called by exchanges

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def answer(self, exchange: Exchange, status: int, message: str, stats: PoolStats) -> None:
        """A response made by the router itself (no backend, or every try failed)."""
        close = not exchange.keep_alive or self.frontend.closing
        self.write(router_error(status, message, close=close))
        stats.record(status, _now() - exchange.started)
        self.finished(exchange)

    def finished(self, exchange: Exchange) -> None:
        self._active = None
        if self.transport is None:
            return
        if not exchange.keep_alive or self.frontend.closing:
            self.transport.close()
        elif self._queue:
            self._active = following = self._queue.popleft()
            self._watch(_BUSY, _now() + self.frontend.timeouts.response)
            following.start()
        elif self._reading:  # the next request's head is already partly here
            self._watch(_HEAD, _now() + self.frontend.timeouts.header)
        else:
            self._watch(_IDLE, _now() + self.frontend.timeouts.idle)

    def abort(self) -> None:
        self._active = None  # its exchange already ended with the backend
        if self.transport is not None:
            self.transport.close()  # after what was written: the client sees a short response

    def shutdown(self) -> None:
        """Router stopping: an idle connection closes now, a busy one after its answer."""
        if self._active is None and self.transport is not None:
            self.transport.close()

    # the one timer of this connection

    def _watch(self, phase: int, deadline: float) -> None:
        """Enter `phase` until `deadline`; the timer is only moved when it would fire late."""
        self._phase, self._deadline = phase, deadline
        if self._timer is None or self._timer_at > deadline:
            self._arm(deadline)

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, at - _now()), self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self.transport is None:
            return
        now = _now()
        active = self._active
        if self._phase == _BUSY and active is not None and active.moved:
            active.moved = False  # bytes flow: an inactivity timeout from now on
            self._deadline = now + self.frontend.timeouts.response
        if now < self._deadline:
            self._arm(self._deadline)
        elif self._phase == _BUSY:
            if active is not None:
                active.expire()
        elif self._reading:
            self._reject(408, "request not received in time")
        else:  # idle, or new and silent: nothing was asked, so nothing to answer
            self.transport.close()

    def _reject(self, status: int, message: str) -> None:
        self._rejected = True
        if self.transport is not None and self._active is None:
            self.transport.write(router_error(status, message, close=True))
        if self.transport is not None:
            self.transport.close()

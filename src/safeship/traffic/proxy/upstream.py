"""Upstream side of the embedded router: one backend, its keep-alive pool, its connections.

A `Backend` is one replica's address with the bookkeeping routing and draining need
(in-flight count, idle connections, passive ejection, open connections and the requests
queued for one when the router caps connections per backend). An `UpstreamConnection` relays the
response bytes of the request it carries to a `ResponseSink` verbatim and parses them only
to find where the response ends, so a finished connection goes back to the idle pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol, cast

import httptools

from safeship.core.types import Replica
from safeship.traffic.proxy.http import head_end, head_status
from safeship.traffic.proxy.stats import PoolStats

MAX_IDLE_PER_BACKEND = 256
EJECT_SECONDS = 2.0  # after a connect failure, other backends are preferred for this long


class ResponseSink(Protocol):
    """Who receives a response: the exchange (one proxied request) that sent it."""

    def on_response_data(self, data: bytes) -> None: ...

    def on_response_complete(self, status: int) -> None: ...

    def on_upstream_lost(self, *, status: int, reused: bool) -> None:
        """The connection ended before the response did; `status` 0 if no head was parsed,
        `reused` when it had carried an earlier request (so it may simply have gone stale)."""
        ...


class Waiter(Protocol):
    """A request queued for a connection to a backend that has its maximum open."""

    def proceed(self) -> None:
        """A connection was freed (pooled or closed): take it, or open one."""
        ...


class Backend:
    """One upstream address and everything the router keeps about it."""

    __slots__ = (
        "_all",
        "_idle",
        "_quiet",
        "connections",
        "draining",
        "ejected_until",
        "host",
        "in_flight",
        "pool",
        "port",
        "replica",
        "stats",
        "waiters",
    )

    def __init__(self, replica: Replica, *, pool: str, stats: PoolStats) -> None:
        self.replica = replica
        self.host, self.port = replica.host, replica.port
        self.pool = pool
        self.stats = stats
        self.in_flight = 0
        self.draining = False
        self.ejected_until = 0.0
        self._idle: list[UpstreamConnection] = []
        self._all: set[UpstreamConnection] = set()
        self.connections = 0  # open or being opened: what a connection cap counts
        self.waiters: deque[Waiter] = deque()
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def usable(self) -> bool:
        return self.replica.healthy and not self.draining

    def begin(self) -> None:
        self.in_flight += 1
        self._quiet.clear()

    def end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._quiet.set()

    def take_idle(self) -> UpstreamConnection | None:
        """A pooled connection that still looks open, or None."""
        idle = self._idle
        while idle:
            connection = idle.pop()
            if connection.open:
                return connection
        return None

    def reserve(self) -> None:
        """Count a connection about to be opened: done before the connect task runs, so a
        cap also holds for requests that arrive together. `connect` then opens it."""
        self.connections += 1

    async def connect(self, *, within: float) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                _, protocol = await loop.create_connection(
                    lambda: UpstreamConnection(self), self.host, self.port
                )
        except BaseException:
            self._closed()
            raise
        return protocol

    def release(self, connection: UpstreamConnection, *, keep_alive: bool) -> None:
        """A connection whose response is complete: pooled if it may be reused, else closed."""
        if keep_alive and not self.draining and len(self._idle) < MAX_IDLE_PER_BACKEND:
            self._idle.append(connection)
            if self.waiters:
                self.waiters.popleft().proceed()
        else:
            connection.close()  # a waiter proceeds once it is gone (track)

    def track(self, connection: UpstreamConnection, *, alive: bool) -> None:
        if alive:
            self._all.add(connection)
            return
        self._all.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        self._closed()

    def _closed(self) -> None:
        self.connections -= 1
        if self.waiters:
            self.waiters.popleft().proceed()

    def close_idle(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    def abort_all(self) -> None:
        """Drain timeout or shutdown: whatever is still open goes now."""
        for connection in list(self._all):
            connection.abort()

    async def quiet(self) -> None:
        """Returns once no request is in flight on this backend."""
        await self._quiet.wait()


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to a backend, carrying one request at a time."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.transport: asyncio.Transport | None = None
        self.reused = False
        self._sink: ResponseSink | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = False
        self._head = b""

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, sink: ResponseSink, payload: bytes, *, head_only: bool) -> None:
        self._sink = sink
        self._head_only = head_only
        assert self.transport is not None  # only open connections are handed out
        self.transport.write(payload)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.backend.track(self, alive=True)

    def data_received(self, data: bytes) -> None:
        sink = self._sink
        if sink is None:  # nothing was asked: the backend is confused, drop it
            self.close()
            return
        sink.on_response_data(data)
        if self._head_only:
            self._head_data(data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()

    def _head_data(self, data: bytes) -> None:
        # A HEAD response announces a length it never sends, so the parser cannot be used.
        self._head += data
        end = head_end(self._head)
        if end >= 0:
            status, keep_alive = head_status(self._head[:end])
            extra = end != len(self._head)  # bytes past the head: the connection is confused
            self._head = b""
            self._finish(status, keep_alive=keep_alive and not extra)

    def on_message_complete(self) -> None:
        parser = self._parser
        self._finish(parser.get_status_code(), keep_alive=parser.should_keep_alive())

    def _finish(self, status: int, *, keep_alive: bool) -> None:
        sink, self._sink = self._sink, None
        self.reused = True
        self.backend.release(self, keep_alive=keep_alive)
        if sink is not None:
            sink.on_response_complete(status)

    def eof_received(self) -> bool | None:
        return False  # a half-closed upstream is useless: close and let connection_lost report

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.backend.track(self, alive=False)
        sink, self._sink = self._sink, None
        if sink is not None:
            # the parser's status is the last one parsed: the sink only uses it once it got bytes
            sink.on_upstream_lost(status=self._parser.get_status_code(), reused=self.reused)

    def detach(self) -> None:
        """The client went away mid-response; the rest of it is unwanted."""
        self._sink = None
        self.abort()

    def pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

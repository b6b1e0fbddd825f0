"""Upstream side of the embedded router: one backend, its keep-alive pool, its connections.

A `Backend` is one replica's address with the bookkeeping routing and draining need
(in-flight count, idle connections, passive ejection, open connections and the requests
queued for one when the router caps connections per backend). An `UpstreamConnection` relays
the response to the request it carries to a `ResponseSink`: heads are rewritten (response.py),
interim (1xx) responses never end an exchange, bodies pass through as they come and their
end is found exactly, so a connection goes back to the idle pool only once its final response
is complete and nothing unasked followed it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol, cast

import httptools

from safeship.core.types import Replica
from safeship.traffic.proxy.http import Payload
from safeship.traffic.proxy.response import (
    CHUNKED,
    MAX_HEAD,
    UNTIL_CLOSE,
    ResponseHead,
    UsualResponse,
    chunk,
    parse_head,
)
from safeship.traffic.proxy.stats import PoolStats

MAX_IDLE_PER_BACKEND = 256
EJECT_SECONDS = 2.0  # after a connect failure, other backends are preferred for this long
SEND_SLICE = 64 * 1024  # bytes of a large request body written upstream in one pass of the loop


class ResponseSink(Protocol):
    """Who receives a response: the exchange (one proxied request) that sent it."""

    head_only: bool  # a HEAD request: the response has no body whatever it announces
    http10: bool  # the client speaks HTTP/1.0: no interim responses, no chunks

    def relays_verbatim(self) -> bool:
        """Whether the client gets a final response head as the backend sent it, but for its
        Connection line: an HTTP/1.1 client whose connection stays open (else the router
        says `Connection: close` or `keep-alive` itself)."""
        ...

    def on_interim(self, head: bytes) -> None:
        """A 1xx response head (not 100: the router answers Expect itself)."""
        ...

    def on_response_head(self, head: bytes, *, close: bool, body: bytes = b"") -> None:
        """The final head, without its last CRLF, and the start of the body (one write);
        `close` when the client connection must end after it (a body only a close ends)."""
        ...

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
        self._quiet: asyncio.Event | None = None  # only while someone waits in `quiet`

    @property
    def usable(self) -> bool:
        return self.replica.healthy and not self.draining

    def end(self) -> None:
        """A request is over (`in_flight` is counted up where a try starts, exchange.py)."""
        self.in_flight -= 1
        if self.in_flight == 0 and self._quiet is not None:
            self._quiet.set()  # `quiet` is waiting: it returns (or waits again)
            self._quiet = None

    def take_idle(self) -> UpstreamConnection | None:
        """A pooled connection that still looks open, or None."""
        idle = self._idle
        while idle:
            connection = idle.pop()
            transport = connection.transport  # `open` spelled out: once per request
            if transport is not None and not transport.is_closing():
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
        """Returns once no request is in flight on this backend. The event exists only while
        someone waits: `begin`/`end` run for every request and then only count."""
        while self.in_flight:
            if self._quiet is None:
                self._quiet = asyncio.Event()
            await self._quiet.wait()


_HEAD, _LENGTH, _CHUNKED, _CLOSE = 0, 1, 2, 3  # where an upstream connection is in a response
_CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"  # primes the parser


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to a backend, carrying one request at a time."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.transport: asyncio.Transport | None = None
        self.reused = False
        self._sink: ResponseSink | None = None
        self._state = _HEAD
        self._head = b""  # a response head not complete yet
        self._left = 0  # body bytes still due (Content-Length)
        self._status = 0
        self._reusable = False
        self._rechunk = False  # chunked or close-delimited body relayed as chunks
        self._parser: httptools.HttpResponseParser | None = None  # chunked bodies only
        self._done = False  # the chunked body ended (set by the parser)
        self._extra = False  # the backend sent more than one response
        self._usual: UsualResponse | None = None  # llhttp in step with usual responses
        self._unsent: tuple[bytes, ...] | None = None  # a large body being sent (_send_slice)
        self._sent = 0  # ... its chunks written so far

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, sink: ResponseSink, payload: Payload) -> None:
        self._sink = sink
        self._state, self._status = _HEAD, 0
        assert self.transport is not None  # only open connections are handed out
        if isinstance(payload, bytes):
            self.transport.write(payload)
        else:  # a large body's chunks, written as they were read, a slice a pass
            self._unsent, self._sent = payload, 0
            self._send_slice()

    def _send_slice(self) -> None:
        """Write SEND_SLICE bytes of the body being sent, and the rest in the next passes of
        the loop. Written whole, a 1 MiB body made a pass of its own (on loopback the kernel
        copies and delivers it in the write), and every small request waited for it."""
        chunks, transport = self._unsent, self.transport
        if chunks is None or transport is None or transport.is_closing():
            self._unsent = None  # answered or gone meanwhile: _finish does not reuse it
            return
        end, size = self._sent, 0
        while end < len(chunks) and size < SEND_SLICE:
            size += len(chunks[end])
            end += 1
        transport.writelines(chunks[self._sent : end])
        if end < len(chunks):
            self._sent = end
            asyncio.get_running_loop().call_soon(self._send_slice)
        else:
            self._unsent = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.backend.track(self, alive=True)

    def data_received(self, data: bytes) -> None:
        sink = self._sink
        if sink is None:  # nothing was asked: the backend is confused, drop it
            self.close()
            return
        state = self._state
        if state == _LENGTH:
            self._length_data(sink, data)
        elif state == _HEAD:
            if self._head:
                self._head_data(sink, self._head + data)
            elif not self._clean_response(sink, data):
                self._head_data(sink, data)
        elif state == _CHUNKED:
            self._chunked_data(data)
        else:
            sink.on_response_data(chunk(data) if self._rechunk else data)

    def _clean_response(self, sink: ResponseSink, data: bytes) -> bool:
        """The hot path: a usual response (`UsualResponse`), its head whole in `data`, goes
        to the client as it came, the Connection line cut out, nothing else rebuilt. False
        (nothing done) for anything else, which `_head_data` handles: a head cut across
        reads, a 1xx, a bodiless response, more than one response, a client needing its own
        Connection header."""
        if sink.head_only or not sink.relays_verbatim():
            return False
        usual = self._usual
        if usual is None:
            usual = self._usual = UsualResponse()
        found = usual.read(data)
        if found is None:
            self._usual = None  # its parser stopped mid-message: a new one next time
            return False
        status, cut_from, cut_to, reusable, left = found
        self._status, self._reusable = status, reusable
        sink.on_response_data(data if cut_from == cut_to else data[:cut_from] + data[cut_to:])
        if left:
            self._state, self._left, self._usual = _LENGTH, left, None
        else:
            self._finish(reusable=reusable)
        return True

    def _head_data(self, sink: ResponseSink, data: bytes) -> None:
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._head = data
                if len(data) > MAX_HEAD:
                    self.abort()
                return
            head = parse_head(data[:end])
            data = data[end + 4 :]
            if head is None or head.status == 101:  # 101: no upgrade was ever asked for
                self.abort()
                return
            if head.status >= 200:
                break
            if head.status != 100:
                sink.on_interim(head.lines)
        self._head = b""
        self._start_body(sink, head, data)

    def _start_body(self, sink: ResponseSink, head: ResponseHead, data: bytes) -> None:
        self._status, self._reusable = head.status, head.reusable
        length = head.length
        if sink.head_only or head.status in (204, 304):
            sink.on_response_head(head.lines + b"\r\n" + head.framing, close=False)
            self._finish(reusable=head.reusable and length != UNTIL_CLOSE and not data)
            return
        if length >= 0:  # the common case: head and what came of the body in one write
            line = b"\r\nContent-Length: %d\r\n" % length
            sink.on_response_head(head.lines + line, close=False, body=data[:length])
            if len(data) < length:
                self._state, self._left = _LENGTH, length - len(data)
            else:
                self._finish(reusable=head.reusable and len(data) == length)
            return
        self._rechunk = not sink.http10
        framing = b"\r\nTransfer-Encoding: chunked\r\n" if self._rechunk else b"\r\n"
        sink.on_response_head(head.lines + framing, close=sink.http10)
        if length == CHUNKED:
            self._state, self._done, self._extra = _CHUNKED, False, False
            if self._parser is None:
                self._parser = httptools.HttpResponseParser(self)
            self._parser.feed_data(_CHUNKED_HEAD)
            self._chunked_data(data)
        else:
            self._state = _CLOSE
            if data:
                sink.on_response_data(chunk(data) if self._rechunk else data)

    def _length_data(self, sink: ResponseSink, data: bytes) -> None:
        left = self._left
        if len(data) < left:
            self._left = left - len(data)
            sink.on_response_data(data)
            return
        sink.on_response_data(data[:left] if len(data) > left else data)
        self._finish(reusable=self._reusable and len(data) == left)

    def _chunked_data(self, data: bytes) -> None:
        parser = self._parser
        assert parser is not None
        try:
            parser.feed_data(data)
        except httptools.HttpParserError:
            if not self._done:
                self.abort()
                return
            self._extra = True  # garbage after the end: the body is whole, the connection not
        if self._done:
            if self._rechunk and self._sink is not None:
                self._sink.on_response_data(b"0\r\n\r\n")  # trailers are not relayed
            self._finish(reusable=self._reusable and not self._extra)

    # httptools callbacks, for chunked bodies only

    def on_message_begin(self) -> None:
        if self._done:
            self._extra = True

    def on_body(self, body: bytes) -> None:
        sink = self._sink
        if sink is not None and not self._done:
            sink.on_response_data(chunk(body) if self._rechunk else body)

    def on_message_complete(self) -> None:
        self._done = True

    def _finish(self, *, reusable: bool) -> None:
        sink, self._sink = self._sink, None
        self._state = _HEAD
        self.reused = True
        if self._unsent is not None:  # answered before the whole body was sent: the rest
            self._unsent, reusable = None, False  # would be read as the next request
        self.backend.release(self, keep_alive=reusable)
        if sink is not None:
            sink.on_response_complete(self._status)

    def eof_received(self) -> bool | None:
        return False  # a half-closed upstream is useless: close and let connection_lost report

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.backend.track(self, alive=False)
        if self._state == _CLOSE and self._sink is not None and exc is None:
            if self._rechunk:
                self._sink.on_response_data(b"0\r\n\r\n")
            self._finish(reusable=False)  # the close was the end of the body
            return
        sink, self._sink = self._sink, None
        if sink is not None:
            # the status is that of the final head, 0 before it: the sink only uses it then
            sink.on_upstream_lost(status=self._status, reused=self.reused)

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

"""Client side of the embedded router: accept requests, send each one upstream, relay the answer.

A `ClientConnection` parses requests (httptools) and runs them one at a time, in order, as
`Exchange`s (exchange.py): each asks the `Balancer` for a backend, sends the rebuilt request
on a pooled or fresh upstream connection, relays the response bytes as they come, and retries
on another backend when that is safe. Request bodies are buffered (up to `Limits.body`) so a
retry can resend them; response bodies stream through. Reading stops (the transport pauses)
while enough is read ahead of the request in flight or the router-wide body budget is spent;
a refused request (request.py) is answered after the ones before it, then the connection is
closed the way nginx does it: FIN first, input drained a short while, so no reset.

A pass of the event loop is what every small request waits for, so no client may make it long:
uploads take turns (`Frontend.body_read`) and read READ_BYTES at a time (`SmallReads`).

Timeouts (`Timeouts`) cost one timer per client connection, not one per request: a state
change only moves a deadline (an attribute write), and the timer, when it fires, re-arms
itself for the deadline in force (`ClientConnection._expired`). A connection is in one phase:
- HEAD: a request has begun (or the connection is new) and its head and body must arrive
  within `header` seconds, else 408 and close (a new connection that sent nothing is just
  closed); slow-header (slowloris) clients cannot hold connections;
- IDLE: keep-alive between requests, closed after `idle` seconds;
- BUSY: a request is proxied; no response byte for `response` seconds answers 504 (tagged
  `X-Safeship-Router: error`, counted as 504 for the backend's version). Once bytes flow it
  is an inactivity timeout, checked with a flag per chunk (so a stall is cut after 1-2x it);
- LINGER: the last answer is out and the write side shut; input is discarded until the
  client closes or LINGER_SECONDS (at most `header`) pass. Only LINGER_BYTES are drained:
  a client that keeps sending past them is not read any more (nginx drains without a cap, in
  C; here a client streaming into a refused connection cost a third of a core for 2 s), and
  the close at the deadline resets it, by when a client that reads has had its answer.
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
from safeship.traffic.proxy.http import CONTINUE, Payload, router_error
from safeship.traffic.proxy.limits import Limits
from safeship.traffic.proxy.pools import Balancer
from safeship.traffic.proxy.request import Budget, Refused, RequestReader
from safeship.traffic.proxy.stats import PoolStats, RouterStats
from safeship.traffic.proxy.timeouts import Timeouts
from safeship.traffic.proxy.upstream import Backend

LINGER_SECONDS = 2.0  # after a last answer, unread input is drained this long (no reset)
LINGER_BYTES = 1024 * 1024  # ... up to this much; then it waits, unread, for the close
TIMER_SLACK = 0.001  # the loop's timers may fire this early (uvloop counts milliseconds)
READ_BYTES = 16 * 1024  # one read from a client, at most
DRAIN_BYTES = 256 * 1024  # ... from a refused one, whose input is counted, not kept
PASS_BODY_BYTES = 32 * 1024  # request-body bytes read in one pass of the loop, about
TURNS = PASS_BODY_BYTES // READ_BYTES  # held-back uploads let go in each pass
_now = time.perf_counter
_IDLE, _HEAD, _BUSY, _LINGER = 0, 1, 2, 3  # phases of a client connection, see the docstring
_CLOSED = httptools.HttpRequestParser(object())  # the parser of every closed connection


class Frontend:
    """What every client connection of one router shares: the routing table and the counters."""

    def __init__(self, *, stats: RouterStats, timeouts: Timeouts, limits: Limits) -> None:
        self.balancer: Balancer[Backend] = Balancer()
        self.unrouted = stats.for_(version="none", pool="none")  # 503s: no backend to blame
        self.timeouts = timeouts
        self.limits = limits
        self.budget = Budget(limits.buffered_total)
        # every client read lands here and is copied out at once (the loop is one thread)
        self.drain_view = memoryview(bytearray(DRAIN_BYTES))
        self.read_view = self.drain_view[:READ_BYTES]
        self.pass_bytes = 0  # body bytes read since uploads were last held back
        self.held_back: deque[ClientConnection] = deque()  # uploads waiting for a turn
        self._pass_due = False  # _next_pass is scheduled
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

    def body_read(self, connection: ClientConnection, size: int) -> None:
        """Uploads take turns: once PASS_BODY_BYTES of bodies are read in a pass of the loop,
        an uploading connection that reads more waits, paused, in `held_back`; each pass
        lets TURNS of them go, first come first. 100 uploaders reading 256 KiB each made a
        pass 50 ms, and the p99 of GETs beside them 300 ms. Only the connection that reads
        is held: pausing every uploader in every pass cost 60 epoll_ctl calls a pass."""
        self.pass_bytes += size
        if self.pass_bytes > PASS_BODY_BYTES and connection.hold_back():
            self.held_back.append(connection)
            if not self._pass_due:
                self._pass_due = True
                asyncio.get_running_loop().call_soon(self._next_pass)

    def _next_pass(self) -> None:
        self._pass_due, self.pass_bytes = False, 0
        held, turns = self.held_back, TURNS
        while held and turns:
            turns -= held.popleft().let_go()
        if held:
            self._pass_due = True
            asyncio.get_running_loop().call_soon(self._next_pass)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class ClientConnection(RequestReader, asyncio.Protocol):
    """One client connection: requests are parsed as they come and proxied one at a time."""

    def __init__(self, frontend: Frontend) -> None:
        super().__init__(frontend.limits, frontend.budget)
        self.frontend = frontend
        self.transport: asyncio.Transport | None = None
        self.gone = False
        self._queue: deque[Exchange] = deque()
        self._active: Exchange | None = None
        self._refused: Refused | None = None  # answered after what is queued; nothing more read
        self._view = frontend.read_view  # where a small read goes (drain_view once refused)
        self._small_reads = False  # reads go through SmallReads (an upload was held back)
        self._discarded = 0  # bytes read after a refusal or a last answer (LINGER_BYTES)
        self._continue = False  # a 100 Continue is owed once this request is at the head
        self._paused = False
        self._held = False  # waits for the next pass of the loop (Frontend.body_read)
        self._phase = _HEAD
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "unknown"
        self.peer = address.encode("ascii", "replace")
        self.trusted = self.limits.trusts(address)
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
        if self.waiting:
            self.budget.waiting.remove(self)
            self.waiting = 0
        held, self.held = self.held, 0
        self.budget.release(held)
        # The request being read goes now (its body may be MiBs), and so does the parser:
        # it holds this connection's bound methods, a cycle only a full collection frees
        # (repeated abuse of 100 uploaders grew the router's RSS ~20 MiB per episode).
        self._reset()
        self.parser = _CLOSED

    def get_buffer(self) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        if self._refused is None:
            self.data_received(self._view[:nbytes].tobytes())
        else:
            self._drain(nbytes)

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            self._drain(len(data))
            return
        if (self.reading or not self.read_simple(data)) and not self._parse(data):
            return  # refused
        if self._queue or self.held or self.waiting:  # else nothing is read ahead
            if self.held:
                self.frontend.body_read(self, len(data))
            self._throttle()

    def _drain(self, size: int) -> None:
        """Input after a refusal or a last answer: counted, dropped, up to LINGER_BYTES."""
        self._discarded += size
        if self._discarded > LINGER_BYTES and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()  # until the close at the linger deadline

    def _parse(self, data: bytes) -> bool:
        """Feed llhttp (anything but the usual whole request); False once refused.

        A head may take `head_limit` bytes; callbacks count complete fields, and
        this bounds an unfinished one. A read longer than the room left in a head is fed in
        two: llhttp would otherwise keep all of it in the field it is reading (one 256 KiB
        read per hostile connection: 100 endless headers sent in 64 KiB writes took the
        router from 50 to 140 MiB)."""
        was_in_head = self.in_head
        room = self.head_limit - self.head_bytes
        if len(data) > room and (was_in_head or not self.reading):
            view = memoryview(data)
            if not self._feed(view[:room]):
                return False
            if self.in_head:  # still a head after all the room it had: no end in sight
                return self._head_too_large()
            if not self._feed(view[room:]):
                return False
        elif not self._feed(data):
            return False
        if self.in_head:
            self.head_bytes += len(data) if was_in_head else 0
            if self.head_bytes > self.head_limit:
                return self._head_too_large()
        if self.reading and self._phase == _IDLE:  # a keep-alive request began: head timeout
            self._watch(_HEAD, _now() + self.frontend.timeouts.header)
        return True

    def _feed(self, data: bytes | memoryview) -> bool:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(Refused(501, "protocol upgrades are not supported"))
            return False
        except httptools.HttpParserError as exc:  # a callback's Refused comes as the cause
            cause = exc.__cause__ or exc.__context__
            self._refuse(cause if isinstance(cause, Refused) else Refused(400, "malformed request"))
            return False
        return True

    def _head_too_large(self) -> bool:
        self._refuse(Refused(431 if self._fields else 414, "request head too large"))
        return False

    def pause_writing(self) -> None:  # the client reads slower than the backend answers
        if self._active is not None and self._active.upstream is not None:
            self._active.upstream.pause()

    def resume_writing(self) -> None:
        if self._active is not None and self._active.upstream is not None:
            self._active.upstream.resume()

    # RequestReader

    def continue_expected(self) -> None:
        """100 Continue only at the head of the pipeline: never inside an earlier response."""
        if self._active is None and not self._queue:
            self.write(CONTINUE)
        else:
            self._continue = True

    def request_read(
        self, payload: Payload, method: bytes, keep_alive: bool, http10: bool, held: int
    ) -> None:
        self._continue = False
        exchange = Exchange(self, payload, method, keep_alive, http10, held)
        if self._active is None:
            self._active = exchange
            self._watch(_BUSY, exchange.started + self.frontend.timeouts.response)
            exchange.start()
        else:
            self._queue.append(exchange)  # pipelined: answered in order

    # reading less: pipelining and the router-wide body budget

    def _throttle(self) -> None:
        """Stop reading while enough is read ahead of the request in flight, or while a
        request body waits for room in the router-wide budget."""
        if self._must_wait() and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _must_wait(self) -> bool:
        if self.waiting:
            return True
        active, limits = self._active, self.limits
        if active is None:
            return False
        ahead = self.held - active.held
        return len(self._queue) >= limits.pipelined or ahead > limits.pipelined_bytes

    def admit(self) -> None:
        super().admit()
        self._resume_if_room()

    def hold_back(self) -> bool:
        """Wait for a turn (Frontend.body_read), and read READ_BYTES at a time from then on
        (the protocol's reads take effect when reading resumes); False if already waiting."""
        if self._held or self.transport is None:
            return False
        self._held = True
        if not self._small_reads:
            self._small_reads = True
            self.transport.set_protocol(SmallReads(self))
        if not self._paused:
            self.transport.pause_reading()
        return True

    def let_go(self) -> bool:
        """Its turn: reads again unless paused for another reason; False if it is gone."""
        self._held = False
        if self.transport is None:
            return False
        if not self._paused:
            self.transport.resume_reading()
        return True

    def _resume_if_room(self) -> None:
        transport = self.transport
        if (
            self._paused
            and self._refused is None
            and transport is not None
            and not self._must_wait()
        ):
            self._paused = False
            if not self._held:  # else at the next pass (let_go)
                transport.resume_reading()

    # called by exchanges

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def answer(self, exchange: Exchange, status: int, message: str, stats: PoolStats) -> None:
        """A response made by the router itself (no backend, or every try failed)."""
        close = not exchange.keep_alive or self.frontend.closing or self._refused is not None
        self.write(router_error(status, message, close=close))
        stats.record(status, _now() - exchange.started)
        if close:
            exchange.keep_alive = False
        self.finished(exchange)

    def finished(self, exchange: Exchange) -> None:
        self._active = None
        if exchange.held:  # most requests have no body: nothing to give back
            self._release(exchange)
        if self.transport is None:
            return
        if not exchange.keep_alive or self.frontend.closing:
            self._linger()
        elif self._queue:
            self._active = following = self._queue.popleft()
            self._watch(_BUSY, _now() + self.frontend.timeouts.response)
            following.start()
        elif self._refused is not None:
            self._answer_refused()
            return
        elif self.reading:  # the next request's head is already partly here
            self._watch(_HEAD, _now() + self.frontend.timeouts.header)
            if self._continue and not self._body_size:
                self._continue = False
                self.write(CONTINUE)
        else:
            self._watch(_IDLE, _now() + self.frontend.timeouts.idle)
        if self._paused:  # the usual connection never paused: no call
            self._resume_if_room()

    def _release(self, exchange: Exchange) -> None:
        held = exchange.held
        if held:
            exchange.held = 0
            self.held -= held
            self.budget.release(held)

    def abort(self, exchange: Exchange) -> None:
        self._active = None  # its exchange already ended with the backend
        self._release(exchange)
        if self.transport is not None:
            self.transport.close()  # after what was written: the client sees a short response

    def shutdown(self) -> None:
        """Router stopping: an idle connection closes now, a busy one after its answer."""
        if self._active is None and self.transport is not None:
            self.transport.close()

    # refusing and closing

    def _refuse(self, refused: Refused) -> None:
        """Answer `refused` once everything before it is answered; read nothing more."""
        self._refused, self._view = refused, self.frontend.drain_view
        if self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        if self._active is None and not self._queue:
            self._answer_refused()

    def _answer_refused(self) -> None:
        refused = self._refused
        assert refused is not None
        self.write(router_error(refused.status, refused.message, close=True))
        self._linger()

    def _linger(self) -> None:
        """Close after the last answer without a reset: send FIN, drain input for a while
        (nginx `lingering_close`), then close; unread input at close would reset the answer."""
        transport = self.transport
        if transport is None:
            return
        if self.frontend.closing or not transport.can_write_eof():
            transport.close()
            return
        self._refused = self._refused or Refused(0, "closing")  # data_received discards
        self._view = self.frontend.drain_view
        transport.write_eof()
        transport.resume_reading()
        self._paused = False
        self._watch(_LINGER, _now() + min(LINGER_SECONDS, self.frontend.timeouts.header))

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
        if now < self._deadline - TIMER_SLACK:
            self._arm(self._deadline)
        elif self._phase == _BUSY:
            if active is not None:
                active.expire()
        elif self._phase == _HEAD and self.reading and self._refused is None:
            self._refuse(Refused(408, "request not received in time"))
        else:  # idle, new and silent, or lingering: nothing (more) to answer
            self.transport.close()


class SmallReads(asyncio.BufferedProtocol):
    """The protocol of a client connection once it uploads: its reads take READ_BYTES at
    most, like HAProxy's and nginx's 16 KiB buffers (uvloop reads 256 KiB into a plain
    protocol). A 256 KiB read is a long piece of a pass; small requests keep uvloop's own
    reads, which cost less per read than a buffered protocol's (5% of GET throughput)."""

    __slots__ = ("connection",)

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.connection.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.connection.buffer_updated(nbytes)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.connection_lost(exc)

    def pause_writing(self) -> None:
        self.connection.pause_writing()

    def resume_writing(self) -> None:
        self.connection.resume_writing()

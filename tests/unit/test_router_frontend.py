"""The client side of the router (frontend.py) against a recording transport.

Uploads take turns in the event loop (Frontend.body_read): once PASS_BODY_BYTES of request
bodies are read in one pass, an upload that reads more waits, and each pass lets TURNS of
the waiting ones go, first come first; small requests are never held back. A read longer
than the room left in a request head is fed to llhttp in two, so a hostile head costs the
head limit, not the read.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import weakref

from safeship.traffic.proxy.frontend import (
    DRAIN_BYTES,
    PASS_BODY_BYTES,
    READ_BYTES,
    TURNS,
    ClientConnection,
    Frontend,
    SmallReads,
)
from safeship.traffic.proxy.limits import Limits
from safeship.traffic.proxy.stats import RouterStats
from safeship.traffic.proxy.timeouts import Timeouts

PART = PASS_BODY_BYTES * 2 // 3  # two parts in one pass go over the quota
UPLOAD = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"


class Transport:
    """What a client connection does to its socket, in one log shared by every connection."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.reading, self.written = name, log, True, b""
        self.protocol: object = None  # set when the connection changes its protocol

    def get_extra_info(self, key: str) -> object:
        return ("127.0.0.1", 40000) if key == "peername" else None

    def pause_reading(self) -> None:
        self.reading = False
        self.log.append(f"pause {self.name}")

    def resume_reading(self) -> None:
        self.reading = True
        self.log.append(f"resume {self.name}")

    def set_protocol(self, protocol: object) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.log.append(f"write {self.name}")
        self.written += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.log.append(f"eof {self.name}")

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        self.log.append(f"close {self.name}")


def _connections(names: str) -> tuple[Frontend, dict[str, ClientConnection], list[str]]:
    frontend = Frontend(stats=RouterStats("t"), timeouts=Timeouts(), limits=Limits())
    log: list[str] = []
    connections = {}
    for name in names:
        connection = ClientConnection(frontend)
        connection.connection_made(Transport(name, log))  # type: ignore[arg-type]
        connections[name] = connection
    return frontend, connections, log


def _transport(connection: ClientConnection) -> Transport:
    assert isinstance(connection.transport, Transport)
    return connection.transport


def _resumed(log: list[str]) -> list[str]:
    return [event for event in log if event.startswith("resume")]


def _close(connections: dict[str, ClientConnection]) -> None:
    for connection in connections.values():
        connection.connection_lost(None)


def test_an_upload_reading_over_the_pass_quota_waits_for_a_turn_and_small_requests_do_not() -> None:
    async def scenario() -> None:
        frontend, c, log = _connections("abcg")
        c["a"].data_received(UPLOAD + b"x" * PART)
        assert log == []  # under the quota: nobody waits
        c["b"].data_received(UPLOAD + b"x" * PART)
        assert log == ["pause b"]  # over it: the one that read waits, a is not touched
        c["c"].data_received(UPLOAD + b"x" * PART)  # read in the same pass: waits too
        c["g"].data_received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert log[1] == "pause c" and "pause g" not in log
        assert [_transport(c[n]).reading for n in "abc"] == [True, False, False]
        log.clear()
        await asyncio.sleep(0)  # the next pass of the loop
        assert _resumed(log) == ["resume b", "resume c"]
        assert frontend.pass_bytes == 0 and not frontend.held_back
        _close(c)

    asyncio.run(scenario())


def test_held_back_uploads_go_turns_a_pass_at_a_time_first_held_first() -> None:
    async def scenario() -> None:
        _, c, log = _connections("abcdef")
        c["a"].data_received(UPLOAD + b"x" * PART)
        held = "fedcb"  # not in the order the connections were made
        for name in held:
            c[name].data_received(UPLOAD + b"x" * PART)
        passes = []
        for _ in range(len(held)):
            log.clear()
            await asyncio.sleep(0)
            passes.append(_resumed(log))
        order = [f"resume {name}" for name in held]
        turns = [order[i : i + TURNS] for i in range(0, len(order), TURNS)]
        assert passes == turns + [[]] * (len(held) - len(turns))
        _close(c)

    asyncio.run(scenario())


def test_a_connection_gone_while_held_back_is_not_resumed_and_takes_no_turn() -> None:
    async def scenario() -> None:
        frontend, c, log = _connections("abcd")
        for name in "abcd":
            c[name].data_received(UPLOAD + b"x" * PART)
        c["b"].connection_lost(None)
        await asyncio.sleep(0)
        assert _resumed(log) == ["resume c", "resume d"][:TURNS]
        _close(c)
        assert frontend.budget.used == 0

    asyncio.run(scenario())


def test_an_upload_held_back_reads_small_from_then_on_and_drains_large_once_refused() -> None:
    async def scenario() -> None:
        _, c, _ = _connections("ag")
        c["g"].data_received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        c["a"].data_received(UPLOAD + b"x" * PART)
        assert _transport(c["g"]).protocol is _transport(c["a"]).protocol is None
        c["a"].data_received(b"x" * PART)  # over the quota: held back
        small = _transport(c["a"]).protocol
        assert isinstance(small, SmallReads)
        await asyncio.sleep(0)  # its turn
        assert len(small.get_buffer(-1)) == READ_BYTES
        rest = b"x" * (1_000_000 - 2 * PART) + b"NOT HTTP\r\n\r\n"  # the body, then garbage
        for at in range(0, len(rest), READ_BYTES):
            part = rest[at : at + READ_BYTES]
            small.get_buffer(-1)[: len(part)] = part
            small.buffer_updated(len(part))
        assert b"HTTP/1.1 400 " in _transport(c["a"]).written
        assert len(small.get_buffer(-1)) == DRAIN_BYTES
        _close(c)

    asyncio.run(scenario())


def test_a_connection_closed_mid_upload_lets_go_of_its_body_at_once() -> None:
    """At once, not at the next full garbage collection: a connection is in a reference
    cycle with its parser, and a long-lived one is collected last."""

    async def scenario() -> None:
        _, c, _ = _connections("a")
        tracemalloc.start()
        try:
            c["a"].data_received(UPLOAD + b"x" * 500_000)
            reading = tracemalloc.get_traced_memory()[0]
            c["a"].connection_lost(None)
            assert reading - tracemalloc.get_traced_memory()[0] > 400_000
        finally:
            tracemalloc.stop()

    gc.disable()
    try:
        asyncio.run(scenario())
    finally:
        gc.enable()


def test_a_closed_connection_is_freed_without_waiting_for_the_garbage_collector() -> None:
    async def scenario() -> weakref.ref[ClientConnection]:
        _, c, _ = _connections("a")
        c["a"].data_received(UPLOAD + b"x" * 500_000)
        c["a"].connection_lost(None)
        return weakref.ref(c.pop("a"))

    gc.disable()
    try:
        closed = asyncio.run(scenario())
        assert closed() is None  # freed by its last reference, not by a collection
    finally:
        gc.enable()


class Fed:
    """The llhttp parser of a connection, recording the size of every feed."""

    def __init__(self, parser: object) -> None:
        self.parser, self.sizes = parser, list[int]()

    def feed_data(self, data: bytes | memoryview) -> None:
        self.sizes.append(len(data))
        self.parser.feed_data(data)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.parser, name)


HEAD_LIMIT = Limits().request_line + Limits().header_bytes


def _fed(data: bytes) -> tuple[Fed, bytes]:
    async def scenario() -> tuple[Fed, bytes]:
        _, c, _ = _connections("a")
        fed = Fed(c["a"].parser)
        c["a"].parser = fed  # type: ignore[assignment]
        c["a"].data_received(data)
        written = _transport(c["a"]).written
        _close(c)
        return fed, written

    return asyncio.run(scenario())


def test_a_head_without_end_is_refused_having_fed_llhttp_the_head_limit_only() -> None:
    fed, written = _fed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: " + b"z" * 300_000)
    assert written.startswith(b"HTTP/1.1 431 ")
    assert fed.sizes == [HEAD_LIMIT]  # not the 300 KB read


def test_a_read_holding_a_head_and_a_large_body_is_fed_in_two_and_read_whole() -> None:
    body = b"b" * 300_000
    head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
    fed, written = _fed(head + body)
    assert fed.sizes == [HEAD_LIMIT, len(head) + len(body) - HEAD_LIMIT]
    assert written.startswith(b"HTTP/1.1 503 ")  # read whole and proxied: no backend here

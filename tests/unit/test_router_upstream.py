"""The upstream side of the router (upstream.py) against a recording transport.

A large request body goes to the backend SEND_SLICE bytes a pass of the event loop, its
chunks as they were read; a backend that answers before the whole body is sent does not get
the connection back in the pool (what was left would be read as the next request).
"""

from __future__ import annotations

import asyncio

from safeship.core.types import Replica
from safeship.traffic.proxy.stats import RouterStats
from safeship.traffic.proxy.upstream import SEND_SLICE, Backend, UpstreamConnection

CHUNK = 16 * 1024
BODY = tuple(bytes([n]) * CHUNK for n in range(64))  # 1 MiB, as SmallReads reads it
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Transport:
    """What an upstream connection writes, a list per call."""

    def __init__(self) -> None:
        self.writes: list[list[bytes]] = []
        self.closed = False

    def writelines(self, chunks: tuple[bytes, ...]) -> None:
        self.writes.append(list(chunks))

    def write(self, data: bytes) -> None:
        self.writes.append([data])

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class Sink:
    """An exchange that only records how its response ended."""

    head_only = http10 = False

    def __init__(self) -> None:
        self.data, self.status = b"", 0

    def relays_verbatim(self) -> bool:
        return True

    def on_response_data(self, data: bytes) -> None:
        self.data += data

    def on_response_complete(self, status: int) -> None:
        self.status = status


def _sent(transport: Transport) -> int:
    return sum(len(chunk) for write in transport.writes for chunk in write)


PASSES = len(BODY) * CHUNK // SEND_SLICE  # to send the whole body


def _connection() -> tuple[Backend, UpstreamConnection, Transport]:
    stats = RouterStats("t").for_(version="v1", pool="stable")
    backend = Backend(Replica("r", "v1", "127.0.0.1", 1), pool="stable", stats=stats)
    connection, transport = UpstreamConnection(backend), Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return backend, connection, transport


def test_a_large_body_is_written_a_slice_a_pass_its_chunks_untouched() -> None:
    async def scenario() -> None:
        _, connection, transport = _connection()
        connection.send(Sink(), BODY)  # type: ignore[arg-type]
        assert _sent(transport) == SEND_SLICE  # not the whole MiB at once
        for passes in range(1, PASSES):
            await asyncio.sleep(0)
            assert _sent(transport) == SEND_SLICE * (passes + 1)  # a slice a pass
        sent = [chunk for write in transport.writes for chunk in write]
        assert all(a is b for a, b in zip(sent, BODY, strict=True))

    asyncio.run(scenario())


def test_an_answer_before_the_whole_body_is_sent_closes_the_connection() -> None:
    async def scenario() -> None:
        backend, connection, transport = _connection()
        sink = Sink()
        connection.send(sink, BODY)  # type: ignore[arg-type]
        connection.data_received(OK)  # e.g. a 413 from the backend, before reading it all
        assert sink.status == 200 and transport.closed
        assert backend.take_idle() is None
        written = len(transport.writes)
        await asyncio.sleep(0)
        assert len(transport.writes) == written  # the rest is not sent

    asyncio.run(scenario())


def test_an_answer_after_the_whole_body_gives_the_connection_back() -> None:
    async def scenario() -> None:
        backend, connection, transport = _connection()
        sink = Sink()
        connection.send(sink, BODY)  # type: ignore[arg-type]
        for _ in range(PASSES):
            await asyncio.sleep(0)
        assert _sent(transport) == len(BODY) * CHUNK
        connection.data_received(OK)
        assert sink.status == 200 and not transport.closed
        assert backend.take_idle() is connection

    asyncio.run(scenario())

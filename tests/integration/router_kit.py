"""Raw-byte kit for the router's hostile-HTTP tests: a recording backend and a raw client.

The backend is a real asyncio TCP server that parses what it receives (httptools, like a
strict backend would), keeps every byte and every parsed request, and answers each request
with scripted writes (bytes, a float to sleep between writes, None to close). By default it answers
`200` with the request's target as the body, so a client can tell whose response it got.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httptools

from safeship.core.types import Replica, TrafficSplit
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.proxy.limits import Limits
from safeship.traffic.proxy.timeouts import Timeouts

Script = list[bytes | float | None]  # bytes to write, seconds to wait, None: close


@dataclass
class Seen:
    """One request as the backend parsed it."""

    method: bytes = b""
    target: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


def ok(body: bytes, *extra: bytes) -> bytes:
    lines = b"".join(h + b"\r\n" for h in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), lines, body)


def echo_target(seen: Seen) -> Script:
    return [ok(seen.target)]


class _BackendConnection:
    def __init__(self, backend: RecordingBackend, writer: asyncio.StreamWriter) -> None:
        self.backend, self.writer = backend, writer
        self.parser = httptools.HttpRequestParser(self)
        self.current = Seen()
        self.body: list[bytes] = []
        self.ready: asyncio.Queue[Seen] = asyncio.Queue()

    def on_url(self, url: bytes) -> None:
        self.current.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.current.method = self.parser.get_method()
        self.current.body = b"".join(self.body)
        self.backend.seen.append(self.current)
        self.ready.put_nowait(self.current)
        self.current, self.body = Seen(), []


class RecordingBackend:
    """A backend that records exactly what reached it and answers per `reply`."""

    def __init__(self, reply: Callable[[Seen], Script] = echo_target) -> None:
        self.reply = reply
        self.raw: list[bytearray] = []  # per upstream connection, every byte received
        self.seen: list[Seen] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def received(self) -> bytes:
        return b"".join(bytes(r) for r in self.raw)

    async def __aenter__(self) -> RecordingBackend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        raw = bytearray()
        self.raw.append(raw)
        connection = _BackendConnection(self, writer)
        answering = asyncio.create_task(self._answer(connection))
        self._tasks.add(answering)
        try:
            while data := await reader.read(65536):
                raw += data
                connection.parser.feed_data(data)
        except (httptools.HttpParserError, ConnectionError):
            pass
        finally:
            answering.cancel()
            writer.close()

    async def _answer(self, connection: _BackendConnection) -> None:
        while True:
            seen = await connection.ready.get()
            for step in self.reply(seen):
                if step is None:
                    connection.writer.close()
                    return
                if isinstance(step, float):
                    await asyncio.sleep(step)
                else:
                    connection.writer.write(step)
                    await connection.writer.drain()


@asynccontextmanager
async def router_for(
    backend: RecordingBackend, *, limits: Limits | None = None, timeouts: Timeouts | None = None
) -> AsyncIterator[EmbeddedRouter]:
    timeouts = timeouts or Timeouts(idle=2.0, header=1.0, response=2.0)
    options: dict[str, object] = {} if limits is None else {"limits": limits}
    router = EmbeddedRouter(service="t", listen_port=0, timeouts=timeouts, **options)  # type: ignore[arg-type]
    await router.start()
    try:
        await router.apply(TrafficSplit(stable=(Replica("b", "v1", "127.0.0.1", backend.port),)))
        yield router
    finally:
        await router.stop()


class Client:
    """A raw client connection: write bytes, read what comes back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def to(cls, router: EmbeddedRouter) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self, *, within: float = 2.0) -> tuple[bytes, bytes]:
        """One response (head, body): Content-Length, chunked, or until close."""
        async with asyncio.timeout(within):
            head = await self.reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            if b"\r\ncontent-length:" in lowered:
                length = int(lowered.split(b"\r\ncontent-length:", 1)[1].split(b"\r\n", 1)[0])
                return head, await self.reader.readexactly(length)
            if b"\r\ntransfer-encoding: chunked" in lowered:
                return head, await self._chunks()
            if head[9:10] == b"1" or head[9:12] in (b"204", b"304"):
                return head, b""
            return head, await self.reader.read()

    async def _chunks(self) -> bytes:
        body = bytearray()
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await self.reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return bytes(body)
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    async def rest(self, *, within: float = 2.0) -> bytes:
        """Everything until the router closes (raises TimeoutError if it does not)."""
        out = bytearray()
        async with asyncio.timeout(within):
            while data := await self.reader.read(65536):
                out += data
        return bytes(out)

    async def closed_cleanly(self, *, within: float = 2.0) -> bool:
        """True when the router ends with a FIN (EOF), False on a reset."""
        try:
            await self.rest(within=within)
        except ConnectionResetError:
            return False
        return True

    def close(self) -> None:
        self.writer.close()


def status(head: bytes) -> int:
    return int(head[9:12])


def run(coroutine: Callable[[], object]) -> None:
    asyncio.run(coroutine())  # type: ignore[arg-type]

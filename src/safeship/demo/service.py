"""The demo service: the "world" a demo or test rollout ships versions of.

A tiny asyncio + httptools HTTP/1.1 server whose error share and latency are set on the
command line, so a bad version is one flag away. It is also the backend of the router
benchmark, so the hot path is a precomputed response and one deferred write.

    python -m safeship.demo.service --port P --version V [--error-ratio R] [--latency-ms MS]

Routes: `GET /` (hello, may fail per --error-ratio, delayed by --latency-ms), `GET /health`,
`GET /version`, `GET /metrics` (its own Prometheus counters). SIGTERM/SIGINT: stop accepting,
let in-flight requests finish (at most ~5 s), close idle keep-alive connections, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from safeship.core.addresses import join_host_port

GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ServiceConfig:
    """What one demo-service process is: its version and how badly it behaves."""

    version: str
    port: int
    host: str = "127.0.0.1"
    error_ratio: float = 0.0
    latency_ms: float = 0.0
    seed: int = 0


def http_response(status: int, body: bytes, *, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """One complete HTTP/1.1 response with a Content-Length body."""
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
    lines = [f"HTTP/1.1 {status} {reason.get(status, 'Unknown')}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Responses:
    """Precomputed answers and the metrics they feed; shared by every connection."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.delay = config.latency_ms / 1000.0
        self._rng = random.Random(config.seed)  # deterministic: the same run fails the same way
        tagged = (("Content-Type", "text/plain; charset=utf-8"), ("X-Version", config.version))
        self.hello = http_response(200, f"hello from {config.version}\n".encode(), headers=tagged)
        self.failure = http_response(500, b"injected failure\n", headers=tagged)
        self.health = http_response(200, b"ok", headers=tagged)
        self.version = http_response(200, config.version.encode(), headers=tagged)
        self.not_found = http_response(404, b"not found\n", headers=tagged)
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "demo_requests", "Requests answered, by status code.", ["code"], registry=self.registry
        )
        self._duration = Histogram(
            "demo_request_duration_seconds", "Time to answer a request.", registry=self.registry
        )
        self._by_code = {code: self._requests.labels(str(code)) for code in (200, 404, 500)}

    def hello_or_failure(self) -> tuple[int, bytes]:
        """`GET /`: a failure for a deterministic-random share of requests."""
        if self.config.error_ratio > 0 and self._rng.random() < self.config.error_ratio:
            return 500, self.failure
        return 200, self.hello

    def metrics(self) -> bytes:
        body = generate_latest(self.registry)
        return http_response(200, body, headers=(("Content-Type", CONTENT_TYPE_LATEST),))

    def record(self, code: int, started: float) -> None:
        self._by_code[code].inc()
        self._duration.observe(time.perf_counter() - started)


class DemoProtocol(asyncio.Protocol):
    """One client connection; requests are answered in order, one at a time."""

    def __init__(self, responses: Responses, connections: set[DemoProtocol]) -> None:
        self._responses = responses
        self._connections = connections
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._queue: deque[tuple[bytes, bytes, bool, float]] = deque()
        self._busy = False
        self.closing = False

    @property
    def idle(self) -> bool:
        return not self._busy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(http_response(400, b"bad request\n"), close=True)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        keep_alive = self._parser.should_keep_alive()
        self._queue.append((method, self._url, keep_alive, time.perf_counter()))
        self._url = b""
        if not self._busy:
            self._next()

    def _next(self) -> None:
        if not self._queue or self._transport is None:
            self._busy = False
            return
        self._busy = True
        method, url, keep_alive, started = self._queue.popleft()
        path = url.split(b"?", 1)[0]
        if path == b"/" and method in (b"GET", b"HEAD") and self._responses.delay > 0:
            loop = asyncio.get_running_loop()
            loop.call_later(self._responses.delay, self._answer, method, path, keep_alive, started)
        else:
            self._answer(method, path, keep_alive, started)

    def _answer(self, method: bytes, path: bytes, keep_alive: bool, started: float) -> None:
        code, payload = self._route(path)
        self._responses.record(code, started)
        if method == b"HEAD":  # same head, no body
            payload = payload[: payload.index(b"\r\n\r\n") + 4]
        self._write(payload, close=not keep_alive or self.closing)
        self._next()

    def _route(self, path: bytes) -> tuple[int, bytes]:
        responses = self._responses
        if path == b"/":
            return responses.hello_or_failure()
        if path == b"/health":
            return 200, responses.health
        if path == b"/version":
            return 200, responses.version
        if path == b"/metrics":
            return 200, responses.metrics()
        return 404, responses.not_found

    def _write(self, payload: bytes, *, close: bool) -> None:
        if self._transport is None:
            return
        self._transport.write(payload)
        if close:
            self._queue.clear()
            self._transport.close()

    def close_if_idle(self) -> None:
        """Shutdown: idle keep-alive connections go now, busy ones after their answer."""
        self.closing = True
        if self.idle and self._transport is not None:
            self._transport.close()


async def serve(config: ServiceConfig, *, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then shut down gracefully (bounded by GRACE_SECONDS)."""
    responses = Responses(config)
    connections: set[DemoProtocol] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: DemoProtocol(responses, connections), config.host, config.port, backlog=1024
    )
    where = join_host_port(config.host, config.port)
    print(f"demo service {config.version} on {where}", file=sys.stderr)
    await stop.wait()
    server.close()
    deadline = loop.time() + GRACE_SECONDS
    while connections and loop.time() < deadline:
        for connection in list(connections):
            connection.close_if_idle()
        await asyncio.sleep(0.02)


def parse_args(argv: list[str]) -> ServiceConfig:
    parser = argparse.ArgumentParser(prog="python -m safeship.demo.service")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--error-ratio", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_ratio <= 1.0 or args.latency_ms < 0:
        parser.error("--error-ratio must be within 0..1 and --latency-ms >= 0")
    return ServiceConfig(
        version=args.version,
        port=args.port,
        host=args.host,
        error_ratio=args.error_ratio,
        latency_ms=args.latency_ms,
        seed=args.seed,
    )


def run(config: ServiceConfig, *, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await serve(config, stop=stop)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    except ImportError:  # uvloop is a speed-up, not a requirement
        factory = asyncio.new_event_loop
    run(config, loop_factory=factory)


if __name__ == "__main__":
    main()

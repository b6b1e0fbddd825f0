"""The router's own `/metrics` endpoint, served on the event loop that updates the counters.

Served on the loop rather than by prometheus_client's threaded server so a scrape reads a
consistent snapshot and never races the hot path. Any path answers; one request per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MAX_REQUEST_HEAD = 16 * 1024
READ_TIMEOUT = 10.0


async def start_exposition(registry: CollectorRegistry, *, host: str, port: int) -> asyncio.Server:
    """Listen on host:port (0 picks a free port) and answer every request with the registry."""

    async def latest() -> bytes:
        return generate_latest(registry)

    return await start_text_endpoint(latest, host=host, port=port)


async def start_text_endpoint(
    render: Callable[[], Awaitable[bytes]], *, host: str, port: int
) -> asyncio.Server:
    """Listen on host:port and answer every request with what `render` makes of it then
    (exposition text; the agent's merged endpoint renders its workers' scrapes)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                await reader.readuntil(b"\r\n\r\n")
            writer.write(_response(await render()))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass  # a broken scrape is the scraper's problem
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_HEAD)


def _response(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Content-Type: {CONTENT_TYPE_LATEST}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body

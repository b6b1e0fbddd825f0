"""Fakes and helpers that our tests and users' tests share (STYLE.md: fakes are part of the
product): a virtual clock, a free port, a real demo-service replica to point things at."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx

from safeship.core.clock import VirtualClock as FakeClock
from safeship.core.types import Replica
from safeship.fleet.local import free_port

__all__ = ["FakeClock", "free_port", "read_response", "start_demo_replica"]


def start_demo_replica(
    version: str, *args: str, within: float = 20.0
) -> tuple[subprocess.Popen[bytes], Replica]:
    """A `safeship.demo.service` process of `version` (extra flags in `args`), once healthy.

    The caller stops it (`process.kill()`); a replica that exits or never answers fails.
    """
    port = free_port()
    argv = [sys.executable, "-m", "safeship.demo.service", "--port", str(port)]
    process = subprocess.Popen([*argv, "--version", version, *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return process, Replica(f"demo-{version}", version, "127.0.0.1", port)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"demo replica {version} did not come up (exit {process.poll()})")


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length from a raw connection: (head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)

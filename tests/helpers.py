"""Helpers our tests share that the test kit (`safeship.testing`) does not offer users."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from pathlib import Path


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length from a raw connection: (head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


def run_cli(
    cwd: Path, *args: str, env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """`safeship ARGS` as a user runs it, in `cwd`, with `env` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "safeship.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def contract(module: str, *fixtures: str) -> dict[str, object]:
    """The tests (and the named fixtures) of `tests/unit/<module>.py`, to run them again in
    another module that overrides only what differs (e.g. `store_url` on PostgreSQL)."""
    found = vars(importlib.import_module(f"tests.unit.{module}"))
    return {k: v for k, v in found.items() if k.startswith("test_") or k in fixtures}

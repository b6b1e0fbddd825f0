"""One demo-service replica as a child process: a real backend to point a router or a scrape at.

Where it sits: beside the demo service (`demo/service.py`); tests and benchmarks start one
through the test kit when they need a live replica without a whole fleet.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from safeship.core.net import free_port
from safeship.core.types import Replica


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

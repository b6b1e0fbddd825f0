"""Network odds and ends every layer may need: a free port for a replica, a router, a test.

Where it sits: below everything; the local fleet picks its replicas' ports with it, and the
test kit hands it to tests and benchmarks.
"""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free now; the caller handles losing it to someone else."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port

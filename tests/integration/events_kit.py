"""What the event integration tests share: a `safeship serve` with an `events:` section on a
SQLite state database, tokens for it, and the counts its event windows hold."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from safeship.testing import free_port
from tests.integration.test_serve_control_plane import wait_for


def start_serve(folder: Path, db: str, config: Path) -> tuple[subprocess.Popen[bytes], str]:
    listen = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "safeship.cli", "serve", "-c", str(config), "--listen", listen]
    env = {**os.environ, "SAFESHIP_DB": db}
    process = subprocess.Popen(argv, cwd=folder, env=env, stderr=subprocess.DEVNULL)
    wait_for(f"http://{listen}/health/liveness", process)
    return process, f"http://{listen}"


def counted(db_file: Path, stream: str) -> int:
    """Events in the stream's stored 1m windows (what a restart restores)."""
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as conn:
        try:
            found = conn.execute(
                "SELECT COALESCE(SUM(count), 0) FROM event_windows"
                " WHERE resolution_s = 60 AND stream = ?",
                (stream,),
            ).fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return 0
    return int(found[0])

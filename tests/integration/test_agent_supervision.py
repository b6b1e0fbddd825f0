"""The agent restarts crashed replicas with growing waits and gives up on a crash loop."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.integration.agent_kit import agent, wait_for

pytestmark = pytest.mark.integration


def test_a_crashed_replica_is_restarted_after_a_growing_wait(tmp_path: Path) -> None:
    with agent(tmp_path, "--restart-sec", "0.5") as process:
        process.put_replicas([{"version": "v1", "count": 1}])
        (replica,) = process.ready_replicas(1)
        waits = []
        for round_ in (2, 3):
            killed = time.monotonic()
            os.killpg(replica["pid"], signal.SIGKILL)
            (replica,) = wait_for(
                lambda n=round_: [
                    u
                    for u in process.service()["replicas"]
                    if u["starts"] == n and u["state"] == "ready"
                ],
                what=f"start number {round_}",
            )
            waits.append(time.monotonic() - killed)
        assert waits[0] >= 0.5  # RestartSec
        assert waits[1] >= 1.0  # doubled: the first crash is still inside the window
        assert replica["state"] == "ready"


def test_a_replica_that_keeps_crashing_is_failed_after_the_burst(tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "import sys; sys.exit(3)", "{port}"]
    flags = ("--restart-sec", "0.1", "--start-limit-burst", "3")
    with agent(tmp_path, *flags) as process:
        process.put_replicas([{"version": "v1", "count": 1}], command=crash)
        (replica,) = wait_for(
            lambda: [u for u in process.service()["replicas"] if u["state"] == "failed"],
            what="the failed state",
        )
        assert replica["starts"] == 4  # the first start and three restarts
        assert "start limit" in replica["reason"]
        time.sleep(1.0)
        assert process.service()["replicas"][0]["starts"] == 4  # and it stays down

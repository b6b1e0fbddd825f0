"""Processes the agent starts and finds again: detached spawn, /proc identity, group stop.

Unlike `fleet/process.py` (children that must die with `safeship run`), these processes must
outlive the agent: each starts in its own session, with no parent-death signal and stdin
from /dev/null, output appended to files under the state dir. A process is identified by
(pid, start time): the start time (/proc/PID/stat field 22, clock ticks since boot) tells
our process from a stranger that got the same pid later. A zombie counts as gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from safeship.fleet.process import start_in_session

_POLL = 0.05


@dataclass(frozen=True)
class Started:
    pid: int
    start_time: int | None


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None when there is no such (live) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and ")"
    if fields[0] in ("Z", "X"):
        _reap(pid)
        return None
    return int(fields[19])  # fields[0] is field 3 (state), so field 22 is fields[19]


def running(pid: int, start_time: int | None) -> bool:
    """Whether `pid` is alive and, when `start_time` is given, still the same process."""
    found = proc_start_time(pid)
    return found is not None and (start_time is None or found == start_time)


def spawn_detached(
    argv: Sequence[str], *, env: Mapping[str, str], log_dir: Path, name: str
) -> Started:
    """Start `argv` in a new session; it survives us. Output goes to log_dir/name.*.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    popen = start_in_session(
        argv,
        env=env,
        stdout_path=log_dir / f"{name}.stdout.log",
        stderr_path=log_dir / f"{name}.stderr.log",
        tied=False,
    )
    # The Popen object is dropped: the process is identified by pid + start time from now
    # on, whether this agent started it or adopted it; `proc_start_time` reaps its zombie.
    popen.returncode = 0  # keeps Popen.__del__ from queueing it for its own reaping
    return Started(popen.pid, proc_start_time(popen.pid))


async def stop_group(pid: int, start_time: int | None, *, grace: float) -> None:
    """SIGTERM the process group `pid` leads, wait up to `grace` s, then SIGKILL it."""
    if not running(pid, start_time):
        return
    _signal_group(pid, signal.SIGTERM)
    if await wait_gone(pid, start_time, within=grace):
        return
    _signal_group(pid, signal.SIGKILL)
    await wait_gone(pid, start_time, within=5.0)


async def wait_gone(pid: int, start_time: int | None, *, within: float) -> bool:
    """Whether the process is gone within `within` seconds (polled: it may not be our child)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while running(pid, start_time):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(_POLL)
    return True


async def healthy(client: httpx.AsyncClient, url: str) -> bool:
    """One health probe: a 2xx answer."""
    try:
        return (await client.get(url)).is_success
    except httpx.HTTPError:
        return False


def stderr_tail(log_dir: Path, name: str, lines: int = 5) -> str:
    try:
        text = (log_dir / f"{name}.stderr.log").read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.splitlines()[-lines:])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)

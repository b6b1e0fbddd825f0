"""Wiring of `safeship up` and `safeship down`: the agent and the control plane in the
background, and stopping everything they run.

Where it sits: under cli/up.py. `up` makes sure this machine's agent answers
(`wiring.agent_stack.ensure_agent`), then starts `safeship serve -c safeship.yaml` detached
(its own session, output in `<home>/logs/serve.*.log`) unless the one in `<home>/serve.pid`
still runs, and waits until it answers /health/liveness. Running it twice changes nothing.
`down` stops serve first (SIGTERM to its group, SIGKILL after a grace; the pid file holds
pid and /proc start time, so a stranger that got the pid is never signalled), then asks
the agent to stop with its replicas and router workers (`POST /shutdown {"fleet": true}`)
and waits until the agent is gone. It decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from safeship.agent.client import AgentClient
from safeship.agent.procs import proc_start_time, running, spawn_detached, stop_group, wait_gone
from safeship.core.addresses import http_url, split_host_port
from safeship.core.errors import DeployError
from safeship.wiring.agent_stack import AgentHome, ensure_agent

SERVE_GRACE_S = 15.0
AGENT_GONE_S = 60.0


@dataclass(frozen=True)
class Up:
    """What `up` found or started."""

    agent_pid: int
    serve_pid: int
    serve_started: bool
    url: str


@dataclass(frozen=True)
class Down:
    serve_pid: int | None  # None: no serve was running
    agent_pid: int | None  # None: no agent answered


def _pid_file(home: AgentHome) -> Path:
    return home.root / "serve.pid"


def _recorded(home: AgentHome) -> tuple[int, int | None] | None:
    """The pid and start time of the serve that `up` started, if it still runs."""
    try:
        data = json.loads(_pid_file(home).read_text())
        pid, start_time = int(data["pid"]), data.get("start_time")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (pid, start_time) if running(pid, start_time) else None


async def up(home: AgentHome, *, config: Path | None, listen: str, within: float = 30.0) -> Up:
    """The agent and serve, running in the background (see module doc)."""
    client = await ensure_agent(home)
    try:
        agent_pid = int((await client.health())["pid"])
    finally:
        await client.aclose()
    url = _url(listen)
    found = _recorded(home)
    if found is not None:
        return Up(agent_pid, found[0], False, url)
    argv = [sys.executable, "-m", "safeship.cli", "serve", "--listen", listen]
    argv += ["-c", str(config)] if config else []
    started = spawn_detached(argv, env=os.environ, log_dir=home.logs, name="serve")
    pid_file = _pid_file(home)
    pid_file.write_text(json.dumps({"pid": started.pid, "start_time": started.start_time}))
    await _await_live(url, started.pid, home, within=within)
    return Up(agent_pid, started.pid, True, url)


async def down(home: AgentHome) -> Down:
    """Stop serve, then the agent with its whole fleet (see module doc)."""
    serve_pid = None
    if (found := _recorded(home)) is not None:
        serve_pid = found[0]
        await stop_group(found[0], found[1], grace=SERVE_GRACE_S)
    with contextlib.suppress(FileNotFoundError):
        _pid_file(home).unlink()
    return Down(serve_pid, await _stop_agent(home))


async def _stop_agent(home: AgentHome) -> int | None:
    client = AgentClient(home.socket)
    try:
        pid = int((await client.health())["pid"])
        start_time = proc_start_time(pid)
        await client.shutdown(fleet=True)
    except DeployError:
        return None  # no agent answers: nothing of ours runs under it
    finally:
        await client.aclose()
    if not await wait_gone(pid, start_time, within=AGENT_GONE_S):
        raise DeployError(f"safeship agent {pid} did not stop in {AGENT_GONE_S:g}s")
    return pid


def _url(listen: str) -> str:
    host, port = split_host_port(listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # a wildcard bind answers locally
    return http_url(host, port)


async def _await_live(url: str, pid: int, home: AgentHome, *, within: float) -> None:
    deadline = time.monotonic() + within
    log = home.logs / "serve.stderr.log"
    async with httpx.AsyncClient(timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if not running(pid, None):
                raise DeployError(f"safeship serve exited at start; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/health/liveness")).is_success:
                    return
            await asyncio.sleep(0.1)
    raise DeployError(f"safeship serve did not answer on {url} in {within:g}s; see {log}")

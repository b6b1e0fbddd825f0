"""A real `safeship agent` process for the agent's integration tests, and a light load.

`AgentProcess` starts the agent as users do (`python -m safeship.cli agent`), talks to its
socket with a blocking httpx client, and on cleanup SIGKILLs every process group the agent
recorded, so no test leaves replicas or workers behind whatever it killed on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DEMO = [sys.executable, "-m", "safeship.demo.service", "--port", "{port}", "--version", "{version}"]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_for(check: Any, *, within: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


class AgentProcess:
    def __init__(self, state_dir: Path, *extra: str) -> None:
        self.state_dir = state_dir
        self.socket = state_dir / "agent.sock"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "safeship.cli",
                "agent",
                "--state-dir",
                str(self.state_dir),
                "--socket",
                str(self.socket),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.state_dir.parent / "agent.stderr").open("ab"),
        )
        wait_for(self._answers, what="the agent's socket")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"agent exited with {self.proc.returncode}")
        try:
            return self.call("GET", "/health").is_success
        except httpx.HTTPError:
            return False

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(10)

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, base_url="http://agent", timeout=10) as http:
            return http.request(method, path, json=body)

    def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", "/state").json()
        return answer

    def service(self, name: str = "web") -> dict[str, Any]:
        found: dict[str, Any] = self.state()["services"][name]
        return found

    def put_replicas(self, pools: list[dict[str, Any]], **extra: Any) -> bool:
        body = {"command": extra.pop("command", DEMO), "pools": pools, **extra}
        response = self.call("PUT", "/services/web/replicas", body)
        assert response.is_success, response.text
        changed: bool = response.json()["changed"]
        return changed

    def put_route(
        self,
        split: dict[str, Any],
        *,
        listen: str,
        workers: int = 2,
        metrics_listen: str | None = None,
    ) -> bool:
        router: dict[str, Any] = {"listen": listen, "drain_timeout": 1.0}
        if metrics_listen is not None:
            router["metrics_listen"] = metrics_listen
        body = {"split": split, "workers": workers, "router": router}
        response = self.call("PUT", "/services/web/route", body)
        assert response.is_success, response.text
        changed: bool = response.json()["changed"]
        return changed

    def ready_replicas(self, count: int) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            units = self.service()["replicas"]
            ok = len(units) == count and all(u["state"] == "ready" for u in units)
            return units if ok else None

        found: list[dict[str, Any]] = wait_for(ready, what=f"{count} ready replicas")
        return found

    def ready_workers(self) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            service = self.service()
            generation = service["route"]["generation"]
            units = service["workers"]
            done = all(u["state"] == "ready" and u["generation"] == generation for u in units)
            return units if units and done else None

        found: list[dict[str, Any]] = wait_for(ready, what="router workers applying the route")
        return found

    def recorded_pids(self) -> list[int]:
        try:
            records = json.loads((self.state_dir / "observed.json").read_text())["records"]
        except (OSError, ValueError):
            return []
        return [r["pid"] for r in records.values() if r["pid"]]

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        for pid in self.recorded_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def backends(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("id", "version", "host", "port", "role")
    return [{k: u[k] for k in keys} for u in units]


@contextlib.contextmanager
def agent(tmp_path: Path, *extra: str) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path / "agent", *extra)
    try:
        yield process.start()
    finally:
        process.cleanup()


@dataclass
class Load:
    """`threads` clients GETting `url` in a loop (keep-alive); counts answers and failures."""

    url: str
    threads: int = 4
    pause: float = 0.01
    ok: int = 0
    failed: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        self._workers = [threading.Thread(target=self._run) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join()

    def _run(self) -> None:
        with httpx.Client(timeout=5.0, trust_env=False) as http:
            while not self._stop.is_set():
                try:
                    response = http.get(self.url)
                    good = response.status_code == 200
                    detail = f"HTTP {response.status_code}"
                    version = response.headers.get("x-version", "")
                except httpx.HTTPError as exc:
                    good, detail, version = False, type(exc).__name__, ""
                with self._lock:
                    if good:
                        self.ok += 1
                        self.versions[version] = self.versions.get(version, 0) + 1
                    else:
                        self.failed += 1
                        self.failures.append((time.monotonic(), detail))
                time.sleep(self.pause)


def stop_agent(home: Path) -> None:
    """`safeship down` for `home` (`$SAFESHIP_HOME`): serve from its pid file, then the agent
    with its fleet; whatever still runs afterwards is SIGKILLed, so no test leaves a process
    behind (a serve left running would start agents again)."""
    from safeship.wiring.agent_stack import AgentHome
    from safeship.wiring.daemons import down

    process = AgentProcess(home / "agent")
    leftovers = process.recorded_pids()
    with contextlib.suppress(Exception):
        serve = json.loads((home / "serve.pid").read_text())["pid"]
        leftovers.append(serve)
    with contextlib.suppress(Exception):
        asyncio.run(down(AgentHome(home)))
    for pid in leftovers + process.recorded_pids():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

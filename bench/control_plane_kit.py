"""What the control-plane benches share: a throwaway machine (`$SAFESHIP_HOME`, database,
safeship.yaml with one demo service), its CLI, its API, and the load generator.

Used by bench/controller_kill.py, bench/failover.py and bench/api.py. Everything is started
as a user would (`python -m safeship.cli ...`); `close()` runs `safeship down` and SIGKILLs
whatever is left, so a bench never leaves processes behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from safeship.testing import free_port

SERVICE = "web"
WRK_SCRIPT = Path(__file__).parent / "wrk_count.lua"
CONFIG = """\
listen: "127.0.0.1:{api}"
services:
  - service:
      name: web
      command: [python, -m, safeship.demo.service, --port, "{{port}}", --version, "{{version}}"]
      stable: v1
      versions:
        bad: {{args: [--error-ratio, "0.3"]}}
    fleet: {{replicas: 2, startTimeout: 15s, stopTimeout: 2s}}
    router: {{listen: "127.0.0.1:{router}", drainTimeout: 1s}}
    analysis:
      interval: 1s
      window: 3s
      metrics:
        - {{name: success, builtin: request-success-rate, min: 0.95, minSamples: 20}}
    strategy:
      canary:
        canaryReplicas: 1
        steps:
          - setWeight: 50
          - analysis: {{count: 2, inconclusiveLimit: 20}}
          - pause: {{duration: {pause}}}
"""


class Machine:
    """One machine's worth of safeship in a temp dir: agent, serve(s), a database."""

    def __init__(self, *, db: str | None = None, pause: str = "1s") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="safeship-bench-"))
        self.router, self.api_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "SAFESHIP_HOME": str(self.dir / "home"),
            "SAFESHIP_DB": db or f"sqlite:///{self.dir / 'state.db'}",
            "SAFESHIP_AUDIT_KEY_FILE": str(self.dir / "audit.key"),
        }
        (self.dir / "safeship.yaml").write_text(
            CONFIG.format(router=self.router, api=self.api_port, pause=pause)
        )
        self.token = ""
        self.loads: list[subprocess.Popen[Any]] = []  # stopped by close() whatever happened

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.router}/"

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "safeship.cli", *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def must(self, *args: str) -> str:
        done = self.cli(*args)
        if done.returncode != 0:
            raise RuntimeError(f"safeship {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def make_token(self, role: str = "operator") -> str:
        name = f"bench-{role}-{time.monotonic_ns()}"
        self.token = self.must("token", "create", "--name", name, "--role", role).split()[-1]
        return self.token

    def serve(self, listen: str) -> subprocess.Popen[bytes]:
        """One `safeship serve` in its own session (failover runs two)."""
        log = (self.dir / f"serve-{listen.rsplit(':', 1)[1]}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "safeship.cli", "serve", "-c", "safeship.yaml"]
            + ["--listen", listen],
            cwd=self.dir,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def serve_pid(self) -> int:
        return int(json.loads((self.dir / "home" / "serve.pid").read_text())["pid"])

    def load(self, rate: float, seconds: float) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "safeship.demo.load", "--url", self.url]
        argv += ["--rate", str(rate), "--duration", f"{seconds:g}s"]
        argv += ["--out", str(self.dir / "load.json"), "--concurrency", "200"]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.loads.append(process)
        return process

    def load_report(self, process: subprocess.Popen[bytes]) -> dict[str, Any]:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        report: dict[str, Any] = json.loads((self.dir / "load.json").read_text())
        return report

    def wrk(self, rate: float, *, connections: int = 8) -> subprocess.Popen[str]:
        """wrk at about `rate` requests/s (each connection waits `connections/rate` between
        requests), counting answers apart (bench/wrk_count.lua); stopped by `wrk_report`."""
        pause_ms = max(1, int(connections * 1000 / rate * 0.92))  # less the answer's own time
        env = {**os.environ, "WRK_DELAY_MS": str(pause_ms)}
        argv = ["wrk", "-t2", f"-c{connections}", "-d1h", "-s", str(WRK_SCRIPT), self.url]
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        self.loads.append(process)
        return process

    def wrk_report(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        """The load-generator-shaped report of a wrk run: mechanics = socket errors and the
        router's own 5xx; the bad version's 5xx apart."""
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        counts = json.loads(out.strip().splitlines()[-1])
        seconds = counts["duration_us"] / 1e6
        socket_errors = sum(counts[k] for k in ("connect", "read", "write", "timeout"))
        return {
            "sent": counts["requests"],
            "achieved_rate": round(counts["requests"] / seconds, 1) if seconds else 0.0,
            "mechanics_errors": socket_errors + counts["router_errors"],
            "mechanics_error_samples": [
                f"{k}: {counts[k]}" for k in ("connect", "read", "write", "timeout") if counts[k]
            ],
            "version_errors": {"bad": counts["version_errors"]},
            "wrk": counts,
        }

    def close(self) -> None:
        for load in self.loads:
            if load.poll() is None:
                load.kill()
                load.wait()
        self.cli("down", timeout=120)
        observed = self.dir / "home" / "agent" / "observed.json"
        with contextlib.suppress(OSError, ValueError):
            for record in json.loads(observed.read_text())["records"].values():
                with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
                    os.killpg(record["pid"], signal.SIGKILL)


class Api:
    """/api/v1 of one serve, with the machine's token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def deploy(self, version: str) -> dict[str, Any]:
        answer = self.http.post("/api/v1/rollouts", json={"service": SERVICE, "version": version})
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def rollout(self, rollout_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get(f"/api/v1/rollouts/{rollout_id}").json()
        return found

    def leads(self) -> bool:
        try:
            text = self.http.get("/metrics", timeout=1).text
        except httpx.HTTPError:
            return False
        return any(
            line.startswith("safeship_leader{") and line.endswith(" 1.0")
            for line in text.splitlines()
        )

    def live(self) -> bool:
        try:
            return self.http.get("/health/liveness", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.http.close()


def wait(check: Any, *, within: float, what: str, every: float = 0.05) -> float:
    """Seconds until `check()` is true; TimeoutError naming `what` after `within`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise TimeoutError(f"{what}: not within {within:g}s")
        time.sleep(every)
    return time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def terms_in_order(entries: list[dict[str, Any]]) -> int:
    """Audit entries written under an older term after a newer one (a deposed leader acting
    after its successor started): what fencing must keep at 0."""
    newest, stale = 0, 0
    for entry in entries:
        term = (entry.get("details") or {}).get("term")
        if term is None:
            continue
        if term < newest:
            stale += 1
        newest = max(newest, term)
    return stale

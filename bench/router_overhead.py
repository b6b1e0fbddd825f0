"""Router overhead: what `safeship proxy` costs next to HAProxy and nginx in front of one backend.

Starts one demo-service backend, then measures with wrk (loopback only) the backend directly,
through `safeship proxy`, through HAProxy and through nginx. Each proxy gets one thread /
worker by default (`--proxy-threads`), like the single-threaded safeship proxy. Targets are
measured in interleaved rounds (`--runs`) and the median round is reported per target.

    .venv/bin/python bench/router_overhead.py [--duration 3] [--connections 64] [--runs 3]
    .venv/bin/python bench/router_overhead.py --baseline ../old/src   # before/after, interleaved

`--baseline` adds a target: `safeship proxy` run from another source tree (a checkout of an
earlier commit), so a change to the router is measured against what it replaces in the same
rounds on the same machine.

Prints a table and writes bench/results/router_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from safeship.testing import free_port

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "router_overhead.json"
HAPROXY, NGINX, WRK = "/usr/sbin/haproxy", "/usr/sbin/nginx", shutil.which("wrk") or "wrk"


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    non_2xx: int


def wait_listening(
    port: int, *, process: subprocess.Popen[bytes], log: Path, within: float = 15.0
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {within}s: {process.args!r}")


@contextmanager
def running(
    args: list[str], *, port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    """A foreground server process, killed on exit whatever happens."""
    with log.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            wait_listening(port, process=process, log=log)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def haproxy_config(*, port: int, backend: int, threads: int) -> str:
    return f"""
global
    nbthread {threads}
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server demo 127.0.0.1:{backend}
"""


def nginx_config(*, port: int, backend: int, workers: int, tmp: Path) -> str:
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp_paths}
    upstream be {{ server 127.0.0.1:{backend}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def run_wrk(port: int, *, args: argparse.Namespace) -> WrkResult:
    command = [WRK, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    command += ["--latency", f"http://127.0.0.1:{port}/"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        requests_per_s=float(rps.group(1)) if rps else 0.0,
        p50_ms=_percentile_ms(out, "50"),
        p99_ms=_percentile_ms(out, "99"),
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def _percentile_ms(out: str, percent: str) -> float:
    found = re.search(rf"^\s+{percent}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if not found:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


def start_targets(
    stack: ExitStack, *, tmp: Path, proxy_threads: int, baseline: Path | None
) -> dict[str, int]:
    """The backend and the proxies in front of it; returns target name → port."""
    backend = free_port()
    demo = [sys.executable, "-m", "safeship.demo.service", "--port", str(backend)]
    stack.enter_context(running([*demo, "--version", "bench"], port=backend, log=tmp / "demo.log"))
    ports = {
        "direct": backend,
        "safeship": free_port(),
        "haproxy": free_port(),
        "nginx": free_port(),
    }

    def proxy(port: int) -> list[str]:
        argv = [sys.executable, "-c", "from safeship.cli.main import app; app()", "proxy"]
        return [*argv, "--listen", f"127.0.0.1:{port}", "--stable", f"http://127.0.0.1:{backend}"]

    stack.enter_context(
        running(proxy(ports["safeship"]), port=ports["safeship"], log=tmp / "safeship.log")
    )
    if baseline is not None:
        ports["baseline"] = port = free_port()
        env = {**os.environ, "PYTHONPATH": str(baseline.resolve())}
        stack.enter_context(running(proxy(port), port=port, log=tmp / "base.log", env=env))
    config = tmp / "haproxy.cfg"
    config.write_text(haproxy_config(port=ports["haproxy"], backend=backend, threads=proxy_threads))
    haproxy = [HAPROXY, "-db", "-f", str(config)]
    stack.enter_context(running(haproxy, port=ports["haproxy"], log=tmp / "haproxy.log"))
    conf = tmp / "nginx.conf"
    text = nginx_config(port=ports["nginx"], backend=backend, workers=proxy_threads, tmp=tmp)
    conf.write_text(text)
    nginx = [NGINX, "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)]
    nginx += ["-g", "daemon off;"]
    stack.enter_context(running(nginx, port=ports["nginx"], log=tmp / "nginx.log"))
    return ports


def median_round(results: list[WrkResult]) -> WrkResult:
    """The round whose req/s is the median; its latency and errors come with it."""
    ordered = sorted(results, key=lambda r: r.requests_per_s)
    return ordered[len(ordered) // 2]


def measure(args: argparse.Namespace) -> dict[str, WrkResult]:
    rounds: dict[str, list[WrkResult]] = {}
    with tempfile.TemporaryDirectory(prefix="safeship-bench-") as name, ExitStack() as stack:
        ports = start_targets(
            stack, tmp=Path(name), proxy_threads=args.proxy_threads, baseline=args.baseline
        )
        for _ in range(args.runs):
            for target, port in ports.items():
                rounds.setdefault(target, []).append(run_wrk(port, args=args))
    return {target: median_round(results) for target, results in rounds.items()}


def report(results: dict[str, WrkResult], args: argparse.Namespace) -> dict[str, object]:
    print(f"{'target':<10}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'sock err':>10}{'non-2xx':>10}")
    for target, r in results.items():
        print(
            f"{target:<10}{r.requests_per_s:>12.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{r.socket_errors:>10}{r.non_2xx:>10}"
        )
    rps = {target: r.requests_per_s for target, r in results.items()}
    ratios = {
        "safeship_over_haproxy": rps["safeship"] / rps["haproxy"] if rps["haproxy"] else 0.0,
        "safeship_over_nginx": rps["safeship"] / rps["nginx"] if rps["nginx"] else 0.0,
        "safeship_over_direct": rps["safeship"] / rps["direct"] if rps["direct"] else 0.0,
    }
    if "baseline" in rps:
        ratios["safeship_over_baseline"] = rps["safeship"] / rps["baseline"]
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    return {
        "settings": vars(args),
        "results": {target: asdict(r) for target, r in results.items()},
        "ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds; median reported")
    parser.add_argument("--proxy-threads", type=int, default=1, help="HAProxy/nginx threads")
    parser.add_argument("--baseline", type=Path, help="src/ of another checkout, measured too")
    args = parser.parse_args()
    document = report(measure(args), args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

"""Router under abuse: what hostile clients cost `safeship proxy` in memory and in latency.

Starts one demo-service backend and `safeship proxy` in front of it (each its own process, so
the RSS measured is the router's alone), measures well-behaved clients with wrk, then again
while an abuser process keeps 100 connections sending a never-ending header section and 100
connections pipelining 1 MiB POST bodies without ever reading. Reports the router's peak RSS
growth (goal < 64 MiB) and the well-behaved p99 during abuse over without it (goal < 2x).

    .venv/bin/python bench/router_abuse.py [--rounds 3] [--duration 4] [--nice 19]
    .venv/bin/python bench/router_abuse.py --target haproxy   # or nginx: the same abuse
    .venv/bin/python bench/router_abuse.py --abuse bodies     # one kind only: headers, bodies

With a backend that answers at once, the pipelining abusers are uploads in effect: their small
answers fit the kernel's buffers for a long time, so the router keeps proxying 1 MiB bodies
(nginx and HAProxy would too); what the well-behaved clients then see is how fairly the
router's loop shares itself (PASS_BODY_BYTES in frontend.py).

On a 2-core machine the abuse generator (Python, a core's worth) competes with the router,
the backend and wrk; `--nice 19` gives it only what they leave, closer to abusers that are
other machines. Default 0: the whole cost on the same cores.

Prints the figures and writes bench/results/router_abuse.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path

from router_overhead import (
    HAPROXY,
    NGINX,
    WRK,
    WrkResult,
    haproxy_config,
    nginx_config,
    parse_wrk,
    running,
)

from safeship.testing import free_port

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "router_abuse.json"
BODY = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def router_pid(port: int) -> int:
    """The pid listening on `port` (the router child of the `safeship proxy` command)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
    return int(out.stdout.split("pid=")[1].split(",")[0])


async def _endless_headers(port: int, stop: float) -> None:
    while time.monotonic() < stop:
        with suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ")
            while time.monotonic() < stop and not writer.is_closing():
                writer.write(b"z" * 65536)
                async with asyncio.timeout(1.0):
                    await writer.drain()
                await asyncio.sleep(0)  # drain() does not yield while the kernel takes it all
            writer.close()
        await asyncio.sleep(0.05)


async def _pipelined_bodies(port: int, stop: float) -> None:
    request = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % BODY + b"b" * BODY
    while time.monotonic() < stop:
        with suppress(OSError, TimeoutError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)  # never read
            while time.monotonic() < stop:
                writer.write(request)
                async with asyncio.timeout(max(0.01, stop - time.monotonic())):
                    await writer.drain()
            writer.close()
        await asyncio.sleep(0.05)


def abuse(port: int, seconds: float, connections: int, nice: int, kinds: str) -> None:
    """Runs in its own process: `connections` of each of `kinds` of abuser for `seconds`, at
    `nice` (the abusers of a real router are other machines; here the Python generating
    the abuse takes a core of the two the router, the backend and wrk share)."""
    os.nice(nice)

    async def main() -> None:
        stop = time.monotonic() + seconds
        tasks = []
        for kind in kinds.split(","):
            run = {"headers": _endless_headers, "bodies": _pipelined_bodies}[kind]
            tasks += [run(port, stop) for _ in range(connections)]
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def wrk(port: int, *, args: argparse.Namespace) -> WrkResult:
    command = [WRK, "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    command.append(f"http://127.0.0.1:{port}/")
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_bytes(pid), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def proxy_command(target: str, *, port: int, backend: int, tmp: Path) -> list[str]:
    """`safeship proxy`, or HAProxy or nginx (one thread, one worker) as a reference."""
    if target == "haproxy":
        (tmp / "haproxy.cfg").write_text(haproxy_config(port=port, backend=backend, threads=1))
        return [HAPROXY, "-db", "-f", str(tmp / "haproxy.cfg")]
    if target == "nginx":
        (tmp / "nginx.conf").write_text(
            nginx_config(port=port, backend=backend, workers=1, tmp=tmp)
        )
        return [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"]
    proxy = [sys.executable, "-c", "from safeship.cli.main import app; app()", "proxy"]
    proxy += ["--listen", f"127.0.0.1:{port}", "--stable", f"http://127.0.0.1:{backend}"]
    return [*proxy, "--header-timeout", "5s"]


def measure(args: argparse.Namespace) -> dict[str, object]:
    """`--rounds` of (calm wrk, wrk under abuse), then one calm wrk after: a single 4 s wrk
    p99 on two shared cores varies 2x between runs (calm: 1.3 to 3.3 ms), so the ratio is of
    the rounds' medians."""
    calm: list[WrkResult] = []
    stormy: list[WrkResult] = []
    peaks: list[int] = []  # the router's peak RSS by the end of each round
    with tempfile.TemporaryDirectory(prefix="safeship-abuse-") as name, ExitStack() as stack:
        tmp, backend, port = Path(name), free_port(), free_port()
        demo = [sys.executable, "-m", "safeship.demo.service", "--port", str(backend)]
        stack.enter_context(running([*demo, "--version", "bench"], port=backend, log=tmp / "d"))
        proxy = proxy_command(args.target, port=port, backend=backend, tmp=tmp)
        stack.enter_context(running(proxy, port=port, log=tmp / "proxy.log"))
        pid = router_pid(port)
        calm.append(wrk(port, args=args))
        before = rss_bytes(pid)  # what calm traffic alone takes
        with PeakRss(pid) as rss:
            for round in range(args.rounds):
                if round:
                    calm.append(wrk(port, args=args))
                abuser = multiprocessing.Process(
                    target=abuse,
                    args=(port, args.duration + 2.0, args.abusers, args.nice, args.abuse),
                    daemon=True,
                )
                abuser.start()
                time.sleep(1.0)  # let the abusers connect and fill their buffers
                stormy.append(wrk(port, args=args))
                abuser.join(timeout=args.duration + 10)
                peaks.append(rss.peak)
        after_abuse = wrk(port, args=args)
    growth = (peaks[0] - before) / 2**20  # one episode of abuse, as the goal is set
    growths = [(peak - before) / 2**20 for peak in peaks]
    p99_calm = statistics.median(r.p99_ms for r in calm)
    p99_abuse = statistics.median(r.p99_ms for r in stormy)
    ratio = p99_abuse / p99_calm if p99_calm else float("nan")
    rate_calm = statistics.median(r.requests_per_s for r in calm)
    rate_abuse = statistics.median(r.requests_per_s for r in stormy)
    print(f"{args.target} ({args.rounds} rounds, medians): ", end="")
    print(f"router RSS before {before / 2**20:.1f} MiB, peak growth under abuse {growth:.1f} MiB")
    print(f"well-behaved p99: calm {p99_calm:.2f} ms, under abuse {p99_abuse:.2f} ms")
    print(f"p99 ratio {ratio:.2f} (goal < 2), req/s calm {rate_calm:.0f}, ", end="")
    print(f"under abuse {rate_abuse:.0f}, after {after_abuse.requests_per_s:.0f}")
    print("  rounds, p99 calm/abuse ms: ", end="")
    print(", ".join(f"{c.p99_ms:.2f}/{s.p99_ms:.2f}" for c, s in zip(calm, stormy, strict=True)))
    print("  rounds, peak RSS growth by then, MiB: ", end="")
    print(", ".join(f"{g:.1f}" for g in growths))
    errors = sum(r.non_2xx for r in stormy), sum(r.socket_errors for r in stormy)
    print(f"non-2xx/socket errors under abuse: {errors[0]}/{errors[1]}")
    return {
        "settings": vars(args),
        "rss_before_mib": before / 2**20,
        "rss_peak_growth_mib": growth,
        "rss_peak_growth_by_round_mib": growths,
        "p99_calm_ms": p99_calm,
        "p99_abuse_ms": p99_abuse,
        "p99_ratio": ratio,
        "calm": [r.__dict__ for r in calm],
        "abuse": [r.__dict__ for r in stormy],
        "after": after_abuse.__dict__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="well-behaved connections")
    parser.add_argument("--rounds", type=int, default=3, help="calm and abused wrk runs each")
    parser.add_argument("--abusers", type=int, default=100, help="connections per abuse kind")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the abuse generator")
    parser.add_argument(
        "--abuse",
        choices=("headers,bodies", "headers", "bodies"),
        default="headers,bodies",
        help="kinds of abuser: never-ending headers, pipelined 1 MiB bodies",
    )
    parser.add_argument("--target", choices=("safeship", "haproxy", "nginx"), default="safeship")
    args = parser.parse_args()
    document = measure(args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

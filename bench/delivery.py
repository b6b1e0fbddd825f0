"""Delivery bench: how fast the outbox empties into a webhook, and how long one notification
takes from submission to the receiver.

    .venv/bin/python bench/delivery.py [--groups 200] [--flushes 10] [--probes 50] [--db URL]

1. throughput: `--groups` x `--flushes` notifications submitted at once (one transaction per
   flush round, as routing submits), delivered by the worker to a webhook on loopback that
   answers 200; notifications/s from the first submit to the last one received;
2. latency: with the worker idle, one notification submitted at a time (the worker woken by
   the submit, as in `safeship serve`); p50 / p99 / max from submit to the receiver having
   read it. Goal (issue 10): well under 1 s.

SQLite in a temporary folder by default; `--db postgresql+psycopg://...` for PostgreSQL.
Prints the figures and writes bench/results/delivery.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from safeship.alerting.delivery import DeliverySettings
from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.alerting.receivers import Receiver
from safeship.core.clock import SystemClock
from safeship.store.repository import Store
from safeship.wiring.notifications import delivery

RECEIVED: list[float] = []  # time.time() of each request the receiver read
# The receiver runs in its own process, so it does not share the worker's GIL; it prints
# the time it read each request, and a thread here collects them.
RECEIVER = """
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()

class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            print(time.time(), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", RECEIVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    stream = process.stdout

    def collect() -> None:
        for line in stream:
            RECEIVED.append(float(line))

    threading.Thread(target=collect, daemon=True).start()
    return process, f"http://127.0.0.1:{port}/hook"


def notification(group: int, sequence: int) -> Notification:
    alert = NotifiedAlert(
        labels=(("alertname", f"A{group}"), ("service", "api")),
        annotations=(("summary", "bench"),),
        status=Status.FIRING,
        starts_at_ms=1_767_225_600_000,
        ends_at_ms=None,
        generator_url="",
        fingerprint=f"fp{group}",
    )
    return Notification(
        receiver="hook",
        group_key=f"{{}}:{{alertname=A{group}}}",
        group_labels=(("alertname", f"A{group}"),),
        alerts=(alert,),
        sequence=sequence,
    )


async def wait_received(count: int, within_s: float = 300) -> None:
    deadline = time.time() + within_s
    while len(RECEIVED) < count:
        if time.time() > deadline:
            raise SystemExit(f"only {len(RECEIVED)} of {count} received in {within_s} s")
        await asyncio.sleep(0.001)


async def run(db: str, url: str, *, groups: int, flushes: int, probes: int) -> dict[str, Any]:
    receiver = Receiver.model_validate({"name": "hook", "webhook_configs": [{"url": url}]})
    with Store.open(db) as store:
        built = delivery(
            store,
            {"hook": receiver},
            clock=SystemClock(),
            registry=CollectorRegistry(),
            settings=DeliverySettings(),
            external_url="",
        )
        worker = asyncio.get_running_loop().create_task(built.worker.run())
        started = time.time()
        for sequence in range(1, flushes + 1):
            built.outbox.submit([notification(g, sequence) for g in range(groups)])
        total = groups * flushes
        await wait_received(total)
        rate = total / (RECEIVED[-1] - started)

        latencies = []
        for probe in range(probes):
            await asyncio.sleep(0.05)  # idle: nothing due
            sent = time.time()
            built.outbox.submit([notification(groups + probe, 1)])
            await wait_received(total + probe + 1)
            latencies.append(RECEIVED[-1] - sent)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    latencies.sort()
    return {
        "notifications": total,
        "delivered_per_s": round(rate, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "latency_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 2),
        "latency_max_ms": round(latencies[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--flushes", type=int, default=10)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    receiver, url = start_receiver()
    try:
        with tempfile.TemporaryDirectory() as folder:
            db = args.db or f"sqlite:///{Path(folder) / 'state.db'}"
            figures = asyncio.run(
                run(db, url, groups=args.groups, flushes=args.flushes, probes=args.probes)
            )
    finally:
        receiver.kill()
        receiver.wait()
    figures["database"] = db.split(":", 1)[0]
    for key, value in figures.items():
        print(f"{key:>18}: {value}")
    out = Path(__file__).parent / "results" / "delivery.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

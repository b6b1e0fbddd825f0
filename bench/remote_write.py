"""Remote-write bench: samples/s from serve's WAL to Debian's real Prometheus receiver, and the
catch-up after the receiver was down.

    .venv/bin/python bench/remote_write.py [--series 1000] [--scrapes 300] [--outage 60]

1. throughput: `--scrapes` scrapes of `--series` series are logged to a WAL first, then one
   queue (default queue_config: 2000 samples a send) sends them all to
   `prometheus --web.enable-remote-write-receiver`; samples/s until the last is acknowledged;
   Prometheus is then asked how many it holds (all of them, or the bench says so);
2. catch-up: a scrape of `--series` series every second is logged while the receiver is down
   for `--outage` seconds; then it starts, and the time until the queue is back to the head
   of the WAL is the catch-up time; nothing may be missing at the receiver.

Prints the figures and writes bench/results/remote_write.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from safeship.config.remote_write import RemoteWriteConfig
from safeship.core.clock import SystemClock
from safeship.metrics.remote_out import RemoteWriteQueue
from safeship.metrics.store import SeriesStore
from safeship.metrics.wal import Wal
from safeship.metrics.wal_replay import recover
from safeship.metrics.wal_tail import Position, PositionFile, WalTail


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_prometheus(folder: Path, port: int) -> subprocess.Popen[bytes]:
    (folder / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")
    argv = [
        "/usr/bin/prometheus",
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-remote-write-receiver",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=0.5).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("prometheus did not start")


def held(port: int, name: str) -> int:
    """How many samples of `name` the receiver holds (last hour)."""
    expr = f"sum(count_over_time({name}[1h]))"
    answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}).json()
    found = answer["data"]["result"]
    return int(float(found[0]["value"][1])) if found else 0


def store_with_wal(folder: Path, series: int, name: str) -> tuple[SeriesStore, Wal, np.ndarray]:
    store = SeriesStore()
    wal, _ = recover(folder, store, fsync_s=1.0)
    refs = [store.ref({"__name__": name, "instance": f"i{i}"}) for i in range(series)]
    return store, wal, np.asarray(refs, dtype=np.int64)


def queue(store: SeriesStore, wal: Wal, port: int, start: Position) -> RemoteWriteQueue:
    config = RemoteWriteConfig(url=f"http://127.0.0.1:{port}/api/v1/write", name="bench")
    return RemoteWriteQueue(
        config,
        store=store,
        tail=WalTail(wal.directory, wal.position, start),
        position_file=PositionFile(wal.directory / "remote_write" / "bench.json"),
        clock=SystemClock(),
    )


async def until_caught_up(q: RemoteWriteQueue, wal: Wal, *, limit_s: float = 600) -> float:
    started = time.perf_counter()
    task = asyncio.create_task(q.run())
    try:
        while q.acknowledged < Position(*wal.position()):
            if time.perf_counter() - started > limit_s:
                raise SystemExit("the queue did not catch up")
            await asyncio.sleep(0.01)
        return time.perf_counter() - started
    finally:
        task.cancel()


async def throughput(folder: Path, port: int, *, series: int, scrapes: int) -> dict[str, float]:
    store, wal, refs = store_with_wal(folder / "wal", series, "bench_throughput")
    start = Position(*wal.position())
    now_ms = int(time.time() * 1000)
    for step in range(scrapes):
        store.append_refs(refs, now_ms - (scrapes - step) * 1000, np.full(series, float(step)))
    q = queue(store, wal, port, start)
    seconds = await until_caught_up(q, wal)
    await q.aclose()
    wal.close()
    total = series * scrapes
    return {"samples": total, "seconds": seconds, "samples_per_s": total / seconds}


async def catch_up(folder: Path, port: int, *, series: int, outage: float) -> dict[str, float]:
    store, wal, refs = store_with_wal(folder / "wal-outage", series, "bench_outage")
    q = queue(store, wal, port, Position(*wal.position()))
    task = asyncio.create_task(q.run())  # sends into a closed port: retries with backoff
    written = 0
    began = time.time()
    while time.time() - began < outage:
        store.append_refs(refs, int(time.time() * 1000), np.full(series, float(written)))
        written += series
        await asyncio.sleep(1.0)
    task.cancel()
    process = start_prometheus(folder / "outage", port)
    try:
        seconds = await until_caught_up(q, wal)
        await asyncio.sleep(1.0)  # the receiver's head is committed per request; be sure
        arrived = held(port, "bench_outage")
    finally:
        process.terminate()
        process.wait()
    await q.aclose()
    wal.close()
    return {"outage_s": outage, "samples": written, "catch_up_s": seconds, "arrived": arrived}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--outage", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        (folder / "receiver").mkdir()
        process = start_prometheus(folder / "receiver", port)
        try:
            fast = await throughput(folder, port, series=args.series, scrapes=args.scrapes)
            await asyncio.sleep(1.0)
            fast["arrived"] = held(port, "bench_throughput")
        finally:
            process.terminate()
            process.wait()
        (folder / "outage").mkdir()
        slow = await catch_up(folder, free_port(), series=args.series, outage=args.outage)
    print(
        f"throughput: {fast['samples']:,} samples in {fast['seconds']:.2f}s ="
        f" {fast['samples_per_s']:,.0f} samples/s to Prometheus; it holds {fast['arrived']:,}"
    )
    missing = slow["samples"] - slow["arrived"]
    print(
        f"catch-up: {slow['samples']:,} samples logged during a {slow['outage_s']:.0f}s outage,"
        f" sent {slow['catch_up_s']:.2f}s after the receiver came back; it holds"
        f" {slow['arrived']:,} ({missing:,} missing)"
    )
    out = Path(__file__).parent / "results" / "remote_write.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"throughput": fast, "catch_up": slow, "args": vars(args)}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())

"""Event analytics bench: ingest throughput per core (HTTP, NATS), ingest-to-queryable lag,
memory per 1,000 active series, and 30-day queries over 1m aggregates against the same
aggregation over raw events in PostgreSQL.

    .venv/bin/python bench/events.py [--events 400000] [--batch 10000] [--skip-nats]
                                     [--skip-query] [--pg postgresql+psycopg://postgres@127.0.0.1/test]

HTTP: a real `safeship serve` (SQLite state database) receives NDJSON batches over one
connection; events/s per core = events / the server's CPU seconds (utime + stime from /proc),
so the client's own work does not count. The lag is the POST's latency: the answer comes after
the windows are committed and their series written to the metric store, so an acked event is
queryable (the bench checks with PromQL). NATS: the same serve consumes a JetStream stream the
bench filled beforehand; per core and wall-clock figures. Memory: tracemalloc over a pipeline
with N open series (windows, sketches, the metric store's series). Query: 100 services x 30
days, in PostgreSQL, as 1m aggregates (the `event_windows` table, retention raised to 30 days)
and as raw events (one row per event, indexed by service and time), same data, same run.
Writes bench/results/events.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

import safeship
from safeship.config.events import EventsSpec
from safeship.core.clock import SystemClock
from safeship.core.net import free_port
from safeship.events.pipeline import EventHub
from safeship.events.storage import EventStorage
from safeship.metrics.store import SeriesStore
from safeship.store.repository import Store
from safeship.store.tokens import Role

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def ndjson(n: int, *, tag: str, services: int = 100) -> bytes:
    now = time.time()
    return b"\n".join(
        orjson.dumps(
            {
                "id": f"{tag}-{i}",
                "service": f"svc-{i % services}",
                "timestamp": now - random.random() * 20,
                "level": "error" if i % 97 == 0 else "info",
                "latency_ms": random.lognormvariate(3, 0.5),
                "version": "v2" if i % 10 == 0 else "v1",
                "risk_score": random.random(),
            }
        )
        for i in range(n)
    )


def serve(folder: Path, config: str) -> tuple[subprocess.Popen[bytes], str, str]:
    db = f"sqlite:///{folder / 'state.db'}"
    with Store.open(db) as store:
        token = store.create_token(name="bench", role=Role.admin, actor="bench")[1]
    (folder / "safeship.yaml").write_text(config)
    listen = f"127.0.0.1:{free_port()}"
    argv = [
        sys.executable,
        "-m",
        "safeship.cli",
        "serve",
        "-c",
        "safeship.yaml",
        "--listen",
        listen,
    ]
    # The serve runs in `folder`: a relative PYTHONPATH (`PYTHONPATH=src`) would not reach it
    # there and it would run another checkout's safeship; put this one's first.
    paths = [str(Path(safeship.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "SAFESHIP_DB": db, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    process = subprocess.Popen(argv, cwd=folder, env=env, stderr=subprocess.DEVNULL)
    url = f"http://{listen}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health/liveness", timeout=0.5).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    time.sleep(1.0)  # the WAL replay and the windows' restore run just after the API answers
    return process, url, token


def http_ingest(events: int, batch: int, *, gzipped: bool) -> dict[str, Any]:
    bodies = [ndjson(batch, tag=f"b{k}") for k in range(events // batch)]
    if gzipped:
        bodies = [gzip.compress(b, compresslevel=1) for b in bodies]
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    config = (
        "events:\n  grace: 10m\n  streams:\n    - name: web\n      fields: {values: [risk_score]}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        process, url, token = serve(Path(folder), config)
        try:
            client = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}", **headers}, timeout=60
            )
            lags, cpu0, wall0 = [], cpu_seconds(process.pid), time.perf_counter()
            for body in bodies:
                started = time.perf_counter()
                answer = client.post("/api/v1/analytics/events", content=body)
                lags.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
            cpu, wall = cpu_seconds(process.pid) - cpu0, time.perf_counter() - wall0
            query = "sum(sum_over_time(safeship_events_total[5m]))"
            found = client.get("/prometheus/api/v1/query", params={"query": query}).json()
            queryable = float(found["data"]["result"][0]["value"][1])
            client.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    sent = len(bodies) * batch
    return {
        "events": sent,
        "batch": batch,
        "gzip": gzipped,
        "events_per_s_per_core": sent / cpu,
        "events_per_s_wall": sent / wall,
        "lag_p50_ms": statistics.median(lags) * 1000,
        "lag_p99_ms": sorted(lags)[int(0.99 * (len(lags) - 1))] * 1000,
        "queryable_after_ack": queryable == sent,
    }


async def fill_nats(subject: str, stream: str, events: int, per_message: int) -> None:
    import nats

    connection = await nats.connect("nats://127.0.0.1:4222")
    for k in range(events // per_message):
        await connection.publish(subject, ndjson(per_message, tag=f"n{k}"))
        if k % 1000 == 0:
            await connection.flush()
    await connection.flush()
    await connection.close()


async def create_stream(subject: str, stream: str) -> None:
    import nats

    connection = await nats.connect("nats://127.0.0.1:4222")
    await connection.jetstream().add_stream(name=stream, subjects=[subject])
    await connection.close()


async def drop_nats(stream: str) -> None:
    import nats

    connection = await nats.connect("nats://127.0.0.1:4222")
    await connection.jetstream().delete_stream(stream)
    await connection.close()


def nats_ingest(events: int, per_message: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"BENCH_{tag}", f"bench.{tag}"
    asyncio.run(create_stream(subject, stream))
    config = (
        "events:\n  grace: 10m\n  streams:\n    - name: bus\n      source:\n        nats:\n"
        f"          stream: {stream}\n          subject: {subject}\n          batch: 500\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        process, url, token = serve(Path(folder), config)
        try:
            client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
            cpu0, wall0, done = cpu_seconds(process.pid), time.perf_counter(), 0
            # Published while the consumer runs: its CPU is measured from before the first
            # event; the publisher (this process) is not counted.
            asyncio.run(fill_nats(subject, stream, events, per_message))
            while done < events and time.perf_counter() - wall0 < 600:
                time.sleep(0.2)
                done = client.get("/api/v1/analytics/stats").json()["streams"][0]["accepted"]
            cpu, wall = cpu_seconds(process.pid) - cpu0, time.perf_counter() - wall0
            client.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    asyncio.run(drop_nats(stream))
    return {
        "events": done,
        "events_per_message": per_message,
        "events_per_s_per_core": done / cpu,
        "events_per_s_wall": done / wall,
    }


def memory_per_thousand_series(series: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        storage = EventStorage.open(f"sqlite:///{folder}/m.db")
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        store = SeriesStore(retention=3600)
        config = EventsSpec(max_series=series * 2)
        hub = EventHub(config, storage=storage, store=store, clock=SystemClock())
        hub.restore()
        pipeline = hub.http_stream(None)
        now = time.time()
        for start in range(0, series, 5000):
            pipeline.ingest(
                [
                    {
                        "id": f"m{i}",
                        "service": f"svc-{i}",
                        "timestamp": now,
                        "latency_ms": 10 + i % 90,
                    }
                    for i in range(start, min(series, start + 5000))
                ]
            )
        after = tracemalloc.take_snapshot()
        used = sum(s.size_diff for s in after.compare_to(before, "filename"))
        tracemalloc.stop()
        storage.close()
    return {"series": series, "bytes_per_1000_series": used / series * 1000}


def query_bench(url: str, *, services: int, days: int, per_minute: int) -> dict[str, Any]:
    engine = sa.create_engine(url)
    minutes = days * 1440
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_raw_events, bench_event_windows")
        conn.exec_driver_sql(
            "CREATE UNLOGGED TABLE bench_raw_events (service text, ts double precision,"
            " error boolean, latency double precision)"
        )
        started = time.perf_counter()
        conn.exec_driver_sql(
            "INSERT INTO bench_raw_events SELECT 'svc-' || s, m * 60 + e * (60.0 / %s),"
            " random() < 0.01, exp(3 + random()) / 1000"
            " FROM generate_series(0, %s) s, generate_series(0, %s) m, generate_series(0, %s) e",
            (per_minute, services - 1, minutes - 1, per_minute - 1),
        )
        conn.exec_driver_sql(
            "CREATE INDEX ON bench_raw_events (service, ts) INCLUDE (error, latency)"
        )
        load_raw = time.perf_counter() - started
        # The same shape as event_windows (events/storage.py): one row per service and minute.
        conn.exec_driver_sql(
            "CREATE UNLOGGED TABLE bench_event_windows (resolution_s int, service text,"
            " start bigint, count bigint, errors bigint, p99 double precision,"
            " PRIMARY KEY (resolution_s, service, start))"
        )
        conn.exec_driver_sql(
            "INSERT INTO bench_event_windows SELECT 60, service, floor(ts / 60)::bigint * 60,"
            " count(*), count(*) FILTER (WHERE error),"
            " percentile_disc(0.99) WITHIN GROUP (ORDER BY latency)"
            " FROM bench_raw_events GROUP BY 1, 2, 3"
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Both tables as a settled database has them: visibility map set (index-only scans).
        conn.exec_driver_sql("VACUUM ANALYZE bench_raw_events")
        conn.exec_driver_sql("VACUUM ANALYZE bench_event_windows")
    queries = {
        "availability": (
            "SELECT sum(count), sum(errors) FROM bench_event_windows"
            " WHERE resolution_s = 60 AND service = %s AND start >= 0",
            "SELECT count(*), count(*) FILTER (WHERE error) FROM bench_raw_events"
            " WHERE service = %s AND ts >= 0",
        ),
        "hourly_series": (
            "SELECT start / 3600, sum(count), sum(errors), max(p99) FROM bench_event_windows"
            " WHERE resolution_s = 60 AND service = %s AND start >= 0 GROUP BY 1",
            "SELECT floor(ts / 3600), count(*), count(*) FILTER (WHERE error),"
            " percentile_disc(0.99) WITHIN GROUP (ORDER BY latency) FROM bench_raw_events"
            " WHERE service = %s AND ts >= 0 GROUP BY 1",
        ),
    }
    figures: dict[str, Any] = {
        "services": services,
        "days": days,
        "raw_events": services * minutes * per_minute,
        "aggregate_rows": services * minutes,
        "load_raw_s": load_raw,
    }
    with engine.connect() as conn:
        for name, (aggregated, raw) in queries.items():
            for kind, sql in (("aggregates", aggregated), ("raw", raw)):
                times = []
                for s in random.Random(1).sample(range(services), min(services, 50)):
                    started = time.perf_counter()
                    conn.exec_driver_sql(sql, (f"svc-{s}",)).all()
                    times.append(time.perf_counter() - started)
                times.sort()
                figures[f"{name}_{kind}_p50_ms"] = times[len(times) // 2] * 1000
                figures[f"{name}_{kind}_p99_ms"] = times[int(0.99 * (len(times) - 1))] * 1000
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE bench_raw_events, bench_event_windows")
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--nats-events", type=int, default=200_000)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-nats", action="store_true")
    parser.add_argument("--skip-query", action="store_true")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--per-minute", type=int, default=2, help="raw events per service-minute")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if not args.skip_http:
        figures["http"] = http_ingest(args.events, args.batch, gzipped=False)
        print("HTTP NDJSON:", json.dumps(figures["http"], indent=1))
        figures["http_gzip"] = http_ingest(args.events // 2, args.batch, gzipped=True)
        print("HTTP NDJSON gzip:", json.dumps(figures["http_gzip"], indent=1))
    if not args.skip_nats:
        figures["nats"] = nats_ingest(args.nats_events, 100)
        print("NATS (100 events a message):", json.dumps(figures["nats"], indent=1))
        figures["nats_single"] = nats_ingest(args.nats_events // 10, 1)
        print("NATS (1 event a message):", json.dumps(figures["nats_single"], indent=1))
    figures["memory"] = memory_per_thousand_series(20_000)
    print("memory:", json.dumps(figures["memory"], indent=1))
    if not args.skip_query:
        figures["query"] = query_bench(args.pg, services=100, days=30, per_minute=args.per_minute)
        print("query (PostgreSQL):", json.dumps(figures["query"], indent=1))
    out = Path(__file__).parent / "results" / "events.json"
    out.parent.mkdir(exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**previous, **figures}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""WAL bench: what the series store's write-ahead log costs, how fast it replays, what a
`kill -9` loses.

    .venv/bin/python bench/wal.py [--series 10000] [--scrapes 2000] [--rounds 5] [--kills 8]
                                  [--fsync 1s]
    .venv/bin/python bench/wal.py --profile   # cProfile of the WAL ingest only, top calls

1. ingest: `--scrapes` whole scrapes of `--series` series through `append_refs` (then the
   lazy merge behind `view()`), in memory only and with the WAL (background fsync every
   `--fsync`, and fsync per batch, that one on a tenth of the scrapes), `--rounds` rounds
   with the modes interleaved and their order rotated. A run is long enough (2000 scrapes,
   160 MB of WAL) to pay what a steady ingest pays: segment rotations, fsyncs, the page
   cache growing. The WAL is opened as serve opens it (replay, then scraping), so its first
   segment is already preallocated. Printed: the median and the range over the rounds of
   the rate of the appends (wall clock), of the same in CPU time (all the process' threads:
   steadier on shared cores), of the rate with the merge, and of the WAL/memory ratio within
   each round (the WAL's raw cost). The merge is the same work in both modes and swings by
   2x from run to run (how much never-touched memory it gets), so a ratio with it says more
   about that than about the WAL.
   Then the same comparison through the wiring serve ingests with: the scraper (`Scraper`,
   its series cache, staleness, report series) reading a 10k-series exposition over an
   in-process HTTP transport, `--scrape-rounds` scrapes per run, memory vs WAL interleaved.
   That is what an operator's ingest costs. Goal: the median ratio there >= 80 %;
2. replay: the log of (1) read back into an empty store, as `safeship serve` does on start;
   goal >= 2 M samples/s;
3. kill -9: a child process ingests as fast as it can and prints each batch number once
   the WAL says it is fsynced; it is SIGKILLed at a random moment, the log is replayed and
   every acknowledged batch must be there whole. Goal: none missing.

Prints the figures and writes bench/results/wal.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

import httpx
import numpy as np

from safeship.core.clock import VirtualClock
from safeship.core.durations import parse_duration
from safeship.metrics.scrape import Scraper, Target
from safeship.metrics.store import SeriesStore, unpack_time
from safeship.metrics.wal_replay import recover, replay

T0_MS = 1_700_000_000_000
BATCH = 1000  # series per batch in the kill test


def series_refs(store: SeriesStore, n: int) -> np.ndarray:
    return np.asarray(
        [store.ref({"__name__": f"m{i % 100}", "instance": f"i{i // 100}"}) for i in range(n)],
        dtype=np.int64,
    )


@dataclass(frozen=True)
class Run:
    """One ingest run's rates in samples/s: the appends alone, and with the merge after."""

    append: float
    append_cpu: float  # in CPU seconds of the process (its WAL threads included)
    whole: float


def ingest(store: SeriesStore, refs: np.ndarray, scrapes: int) -> Run:
    """`scrapes` whole scrapes through append_refs, then the lazy merge behind view()."""
    values = np.random.default_rng(1).uniform(0, 100, refs.size)
    started, cpu = time.perf_counter(), time.process_time()
    for step in range(scrapes):
        store.append_refs(refs, T0_MS + step * 15_000, values + step)
    appended, appended_cpu = time.perf_counter(), time.process_time()
    store.view()
    ended = time.perf_counter()
    samples = refs.size * scrapes
    return Run(
        append=samples / (appended - started),
        append_cpu=samples / (appended_cpu - cpu),
        whole=samples / (ended - started),
    )


MODES = ("memory", "wal", "wal_fsync_per_batch")


def ingest_rates(
    folder: Path, *, series: int, scrapes: int, fsync_s: float, rounds: int
) -> dict[str, list[Run]]:
    """`rounds` interleaved runs of each mode, the order rotated each round: the cores are
    shared and the page cache grows, so no mode always runs first or last."""
    runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
    for round_ in range(rounds):
        for mode in MODES[round_ % 3 :] + MODES[: round_ % 3]:
            gc.collect()
            store = SeriesStore()
            if mode == "memory":
                runs[mode].append(ingest(store, series_refs(store, series), scrapes))
                continue
            where = folder / mode
            shutil.rmtree(where, ignore_errors=True)  # the last round's log stays, for replay
            every, count = (fsync_s, scrapes) if mode == "wal" else (0.0, max(scrapes // 10, 1))
            wal, _ = recover(where, store, fsync_s=every)
            runs[mode].append(ingest(store, series_refs(store, series), count))
            wal.close()
    return runs


def exposition(series: int) -> bytes:
    """A target's /metrics: `series` gauges under 100 names, values that move a little."""
    lines = [f'm{i % 100}{{instance="i{i // 100}"}} {i * 1.5}' for i in range(series)]
    return ("\n".join(lines) + "\n").encode()


def scrape_ingest(store: SeriesStore, body: bytes, scrapes: int) -> float:
    """Samples per second through `Scraper` (parse, series cache, append, staleness), one
    target read over an in-process transport on a virtual clock: the wiring serve uses, no
    socket or network time in the figure."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    clock = VirtualClock()

    async def run() -> float:
        async with httpx.AsyncClient(transport=transport) as client:
            scraper = Scraper(store, clock=clock, client=client)
            target = Target(job="bench", url="http://t/metrics", labels=(), interval=15, timeout=5)
            scraper.set_targets("bench", [target])
            await scraper.scrape_all()  # the series are new once: not what a steady ingest pays
            started = time.perf_counter()
            for _ in range(scrapes):
                clock.advance(15)
                await scraper.scrape_all()
            return time.perf_counter() - started

    seconds = asyncio.run(run())
    return body.count(b"\n") * scrapes / seconds


def scrape_rates(folder: Path, *, series: int, scrapes: int, rounds: int) -> dict[str, list[float]]:
    """Memory vs WAL (background fsync, the default) through the scraper, interleaved."""
    body = exposition(series)
    rates: dict[str, list[float]] = {"memory": [], "wal": []}
    for round_ in range(rounds):
        for mode in ("memory", "wal") if round_ % 2 == 0 else ("wal", "memory"):
            gc.collect()
            store = SeriesStore()
            if mode == "memory":
                rates[mode].append(scrape_ingest(store, body, scrapes))
                continue
            where = folder / "scraped"
            shutil.rmtree(where, ignore_errors=True)
            wal, _ = recover(where, store, fsync_s=1.0)
            rates[mode].append(scrape_ingest(store, body, scrapes))
            wal.close()
    return rates


def profile(folder: Path, *, series: int, scrapes: int, fsync_s: float) -> None:
    """Where the WAL's ingest time goes: cProfile of one `ingest` run, top calls by own time."""
    store = SeriesStore()
    wal, _ = recover(folder, store, fsync_s=fsync_s)
    refs = series_refs(store, series)
    profiler = cProfile.Profile()
    profiler.runcall(ingest, store, refs, scrapes)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(10)
    wal.close()


def replay_rate(folder: Path) -> dict[str, float]:
    store = SeriesStore()
    started = time.perf_counter()
    report = replay(folder, store)
    store.view()
    whole = time.perf_counter() - started
    return {
        "samples": report.samples,
        "samples_per_s": report.samples / report.seconds,
        "samples_per_s_with_merge": report.samples / whole,
        "wal_bytes": sum(p.stat().st_size for p in folder.iterdir()),
    }


def child(folder: Path, fsync_s: float) -> None:
    """Ingest batch after batch; print a batch's number once the WAL has fsynced it."""
    store = SeriesStore()
    wal, _ = recover(folder, store, fsync_s=fsync_s)
    refs = series_refs(store, BATCH)
    waiting: list[tuple[int, int]] = []  # (batch, records written when it was logged)
    batch = 0
    while True:
        store.append_refs(refs, T0_MS + batch, np.full(BATCH, float(batch)))
        waiting.append((batch, wal.written))
        synced = wal.synced
        acked = [b for b, seq in waiting if seq <= synced]
        if acked:
            sys.stdout.write("".join(f"{b}\n" for b in acked))
            sys.stdout.flush()
            waiting = waiting[len(acked) :]
        batch += 1


def kill_round(folder: Path, fsync_s: float, rng: random.Random) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", str(folder), "--fsync", str(fsync_s)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE)
    time.sleep(rng.uniform(1.0 + fsync_s, 1.0 + 3 * fsync_s))  # start-up, then ingest
    process.send_signal(signal.SIGKILL)
    out, _ = process.communicate()
    acked = [int(line) for line in out.split()]
    store = SeriesStore()
    replay(folder, store)
    times = unpack_time(store.view().keys) - T0_MS
    counts = np.bincount(times, minlength=max(acked, default=0) + 1)
    missing = [b for b in acked if counts[b] != BATCH]
    return {
        "acknowledged": len(acked),
        "replayed_batches": int(np.count_nonzero(counts == BATCH)),
        "missing_acknowledged": len(missing),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scrape-rounds", type=int, default=50, help="scrapes per scraper run")
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--fsync", default="1s")
    parser.add_argument("--child")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    fsync_s = parse_duration(args.fsync)
    if args.child:
        child(Path(args.child), fsync_s)
        return
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            profile(Path(tmp), series=args.series, scrapes=args.scrapes, fsync_s=fsync_s)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = ingest_rates(
            folder, series=args.series, scrapes=args.scrapes, fsync_s=fsync_s, rounds=args.rounds
        )
        scraped = scrape_rates(
            folder, series=args.series, scrapes=args.scrape_rounds, rounds=args.rounds
        )
        replayed = replay_rate(folder / "wal")
        rng = random.Random(14)
        kills = [kill_round(folder / f"kill{i}", fsync_s, rng) for i in range(args.kills)]
    report(args, runs=runs, scraped=scraped, replayed=replayed, kills=kills)


def spread(values: list[float]) -> str:
    """median [lowest - highest]"""
    return f"{median(values):6.2f} [{min(values):6.2f} - {max(values):6.2f}]"


def report(
    args: argparse.Namespace,
    *,
    runs: dict[str, list[Run]],
    scraped: dict[str, list[float]],
    replayed: dict[str, float],
    kills: list[dict[str, float]],
) -> None:
    memory = runs["memory"]
    print(
        f"ingest, {args.series} series x {args.scrapes} scrapes, {args.rounds} interleaved"
        " rounds; M samples/s, median [range]:"
    )
    fields = ("append", "append_cpu", "whole")
    print(f"  {'':20s} {'appends':>24s} {'appends, CPU time':>24s} {'with the merge':>24s}")
    for name, found in runs.items():
        columns = [[getattr(r, field) / 1e6 for r in found] for field in fields]
        print(f"  {name:20s} " + " ".join(f"{spread(c):>24s}" for c in columns))
    ratios: dict[str, dict[str, list[float]]] = {}
    for name in ("wal", "wal_fsync_per_batch"):
        ratios[name] = {
            field: [
                getattr(w, field) / getattr(m, field)
                for w, m in zip(runs[name], memory, strict=True)
            ]
            for field in fields
        }
        print(
            f"  {name} / memory, same round (%): "
            + ", ".join(
                f"{field} {spread([100 * r for r in values])}"
                for field, values in ratios[name].items()
            )
        )
    share = median(ratios["wal"]["append"])
    print(
        f"  appends alone, WAL >= 80 % of memory: {'yes' if share >= 0.8 else 'no'} ({share:.0%})"
    )
    through = [w / m for w, m in zip(scraped["wal"], scraped["memory"], strict=True)]
    print(
        f"through the scraper, {args.series} series x {args.scrape_rounds} scrapes (M samples/s):"
    )
    for name, found in scraped.items():
        print(f"  {name:20s} {spread([r / 1e6 for r in found])}")
    print(f"  wal / memory, same round (%): {spread([100 * r for r in through])}")
    share = median(through)
    print(f"  goal WAL >= 80 % of memory: {'met' if share >= 0.8 else 'MISSED'} ({share:.0%})")
    print(
        f"replay: {replayed['samples']:,} samples, {replayed['samples_per_s'] / 1e6:.2f} M/s"
        f" ({replayed['samples_per_s_with_merge'] / 1e6:.2f} M/s with the merge),"
        f" {replayed['wal_bytes'] / 2**20:.0f} MiB; goal >= 2 M/s:"
        f" {'met' if replayed['samples_per_s'] >= 2e6 else 'MISSED'}"
    )
    missing = sum(k["missing_acknowledged"] for k in kills)
    acked = sum(k["acknowledged"] for k in kills)
    print(
        f"kill -9 x {len(kills)} (fsync every {args.fsync}): {acked:,} batches acknowledged,"
        f" {missing} missing after replay; goal none: {'met' if missing == 0 else 'MISSED'}"
    )
    out = Path(__file__).parent / "results" / "wal.json"
    out.parent.mkdir(exist_ok=True)
    result = {
        "ingest": {name: [asdict(r) for r in found] for name, found in runs.items()},
        "ratios": ratios,
        "scraped": scraped,
        "replay": replayed,
        "kills": kills,
        "args": vars(args),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

"""The WAL of the series store: what a replay brings back, and what it cuts.

Real files in a temporary folder; damage is done to them the way a crash or a bad disk
would (a half-written tail, a flipped byte) and the replay must cut there, never fail.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from safeship.core.labels import STALE_NAN, make_labels
from safeship.metrics.index import equal
from safeship.metrics.store import SeriesStore
from safeship.metrics.wal import Wal
from safeship.metrics.wal_format import numbered
from safeship.metrics.wal_replay import recover, replay

UP = make_labels({"__name__": "up", "job": "api"})
GONE = make_labels({"__name__": "gone", "job": "api"})


def logged_store(directory: Path, **options: float) -> tuple[SeriesStore, Wal]:
    store = SeriesStore(retention=options.get("retention"))
    wal, _ = recover(directory, store, fsync_s=0, segment_bytes=1 << 16)
    return store, wal


def values(store: SeriesStore, name: str) -> list[tuple[int, float]]:
    found = store.select([equal("__name__", name)], -(1 << 40), 1 << 40)
    return [(int(t), float(v)) for s in found for t, v in zip(s.timestamps, s.values, strict=True)]


def segments(directory: Path) -> list[str]:
    return [name for _, name in numbered(os.listdir(directory), "segment-")]


def test_replay_restores_samples_stale_markers_and_the_label_index(tmp_path: Path) -> None:
    store, wal = logged_store(tmp_path)
    refs = np.asarray([store.ref(UP), store.ref(GONE)], dtype=np.int64)
    store.append_refs(refs, 1000, [1.0, 5.0])
    store.append_refs(refs, np.asarray([2000, 2000]), np.asarray([0.0, 6.0]))
    store.mark_stale(GONE, 3000)
    store.append({"__name__": "ALERTS", "alertname": "A"}, 3000, 1.0)
    wal.close()

    back = SeriesStore()
    report = replay(tmp_path, back)
    assert (report.series, report.samples, report.cut_bytes) == (3, 6, 0)
    assert values(back, "up") == [(1000, 1.0), (2000, 0.0)]
    (gone_stale,) = [v for t, v in values(back, "gone") if t == 3000]
    assert math.isnan(gone_stale) and np.float64(gone_stale).view(np.uint64) == np.float64(
        STALE_NAN
    ).view(np.uint64)
    assert back.label_values("job") == ["api"] and back.label_names() == store.label_names()
    assert [back.labels(i) for i in range(len(back))] == [store.labels(i) for i in range(3)]


def test_a_torn_tail_is_cut_and_the_log_goes_on_after_it(tmp_path: Path) -> None:
    store, wal = logged_store(tmp_path)
    ref = np.asarray([store.ref(UP)], dtype=np.int64)
    for t in range(1, 11):
        store.append_refs(ref, t * 1000, [float(t)])
    _, whole = wal.position()
    wal.close()
    (segment,) = segments(tmp_path)
    path = tmp_path / segment
    with path.open("r+b") as f:  # the process died in the middle of the last record
        f.seek(whole - 5)
        f.write(bytes(5))

    back, wal = logged_store(tmp_path)
    assert [v for _, v in values(back, "up")] == [float(t) for t in range(1, 10)]
    assert path.stat().st_size < whole - 5  # cut at the last whole record
    back.append_refs(ref, 20_000, [20.0])  # a new segment after the cut
    wal.close()
    again = SeriesStore()
    replay(tmp_path, again)
    assert values(again, "up")[-2:] == [(9000, 9.0), (20_000, 20.0)]


def test_a_bad_checksum_cuts_that_record_and_drops_every_later_segment(tmp_path: Path) -> None:
    store = SeriesStore()
    wal, _ = recover(tmp_path, store, fsync_s=0, segment_bytes=200)
    ref = np.asarray([store.ref(UP)], dtype=np.int64)
    for t in range(1, 21):
        store.append_refs(ref, t * 1000, [float(t)])
    wal.close()
    names = segments(tmp_path)
    assert len(names) > 3
    damaged = tmp_path / names[1]
    data = bytearray(damaged.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit inside the last record of the second segment
    damaged.write_bytes(bytes(data))

    back = SeriesStore()
    report = replay(tmp_path, back)
    kept = [v for _, v in values(back, "up")]
    assert kept == [float(t) for t in range(1, len(kept) + 1)] and 0 < len(kept) < 20
    assert report.cut_bytes > 0 and segments(tmp_path) == names[:2]


def test_a_sample_of_a_series_never_logged_ends_the_log(tmp_path: Path) -> None:
    store, wal = logged_store(tmp_path)
    store.append_refs(np.asarray([store.ref(UP)]), 1000, [1.0])
    wal.samples(np.asarray([7], dtype=np.int64), 2000, np.asarray([2.0]))  # no such series
    store.append_refs(np.asarray([0]), 3000, [3.0])
    wal.close()
    back = SeriesStore()
    report = replay(tmp_path, back)
    assert values(back, "up") == [(1000, 1.0)] and report.cut_bytes > 0


def test_a_checkpoint_keeps_only_the_window_and_deletes_older_segments(tmp_path: Path) -> None:
    store = SeriesStore(retention=10.0)
    wal, _ = recover(tmp_path, store, fsync_s=0, segment_bytes=300)
    ref = np.asarray([store.ref(UP)], dtype=np.int64)
    for t in range(1, 31):
        store.append_refs(ref, t * 1000, [float(t)])
    before = segments(tmp_path)
    snapshot = store.checkpoint()
    assert snapshot is not None
    wal.write_checkpoint(snapshot)
    store.append_refs(ref, 31_000, [31.0])
    store.mark_stale(GONE, 31_000)  # a series born after the checkpoint
    wal.close()
    assert len(before) > 2 and segments(tmp_path) == [f"segment-{snapshot.before:08d}"]

    back = SeriesStore()  # no retention: what the log holds shows
    replay(tmp_path, back)
    assert [t // 1000 for t, _ in values(back, "up")] == list(range(20, 32))
    assert len(back) == 2 and back.labels(1) == GONE


def test_a_background_fsync_reports_what_is_on_disk(tmp_path: Path) -> None:
    store = SeriesStore()
    wal, _ = recover(tmp_path, store, fsync_s=0.01)
    store.append_refs(np.asarray([store.ref(UP)]), 1000, [1.0])
    assert wal.written == 2
    wal.sync()
    assert wal.synced == 2
    wal.close()


def test_scrapes_of_the_same_series_log_their_refs_once_per_segment(tmp_path: Path) -> None:
    store = SeriesStore()
    wal, _ = recover(tmp_path, store, fsync_s=1.0, segment_bytes=40_000)
    refs = np.asarray([store.ref({"__name__": "m", "i": str(i)}) for i in range(500)])
    sizes: dict[int, list[int]] = {}  # segment → bytes each scrape logged in it
    for step in range(12):  # 4 KiB of values a scrape: three segments
        segment, start = wal.position()
        store.append_refs(refs.copy(), step * 1000, np.full(500, float(step)))
        now, end = wal.position()
        sizes.setdefault(now, []).append(end - (start if now == segment else 0))
    wal.close()
    assert all(first > 8000 and max(rest, default=0) < 4100 for first, *rest in sizes.values())
    assert sum(len(rest) for _, *rest in sizes.values()) >= 6
    assert len(segments(tmp_path)) >= 3

    back = SeriesStore()
    report = replay(tmp_path, back)
    assert report.samples == 12 * 500 and report.cut_bytes == 0
    first = segments(tmp_path)[-1]  # a segment read alone still decodes
    (tmp_path / "alone").mkdir()
    os.link(tmp_path / first, tmp_path / "alone" / first)
    alone = SeriesStore()
    for i in range(500):
        alone.ref({"__name__": "m", "i": str(i)})
    part = replay(tmp_path / "alone", alone)
    assert part.samples > 0 and part.samples % 500 == 0 and part.cut_bytes == 0


def test_ref_sets_alike_at_both_ends_are_told_apart(tmp_path: Path) -> None:
    """The writer keys ref sets by size and ends, then compares them whole: a set that
    differs only in the middle is a new set with the next number, not a reused one."""
    store = SeriesStore()
    wal, _ = recover(tmp_path, store, fsync_s=1.0)
    refs = np.asarray([store.ref({"__name__": "m", "i": str(i)}) for i in range(100)])
    middle = refs.copy()
    middle[50] = store.ref({"__name__": "m", "i": "new"})
    other = np.asarray([store.ref({"__name__": "o", "i": str(i)}) for i in range(64)])
    batches = [refs, middle, refs, other, middle]
    for step, batch in enumerate(batches):
        store.append_refs(batch, step * 1000, np.full(batch.size, float(step)))
    wal.close()

    back = SeriesStore()
    report = replay(tmp_path, back)
    assert report.samples == sum(b.size for b in batches) and report.cut_bytes == 0
    assert values(back, "m")[-2:] == [(1000, 1.0), (4000, 4.0)]  # i=new: the middle ones
    view = back.view()
    assert np.array_equal(view.keys, store.view().keys)
    assert np.array_equal(view.values, store.view().values)


def test_a_segment_is_preallocated_when_opened_and_its_zeros_are_not_damage(
    tmp_path: Path,
) -> None:
    for every in (0.0, 1.0):  # zeros written (fsync per batch), or fallocated
        where = tmp_path / str(every)
        store = SeriesStore()
        wal, _ = recover(where, store, fsync_s=every, segment_bytes=1 << 16)
        (first,) = segments(where)
        assert (where / first).stat().st_size == 1 << 16  # before anything is written
        refs = np.asarray([store.ref({"__name__": "m", "i": str(i)}) for i in range(100)])
        for step in range(100):  # 800 bytes a scrape: a rotation or so
            store.append_refs(refs, step * 1000, np.full(100, float(step)))
        wal.close()
        assert len(segments(where)) >= 2
        back = SeriesStore()
        report = replay(where, back)
        assert (report.samples, report.cut_bytes) == (10_000, 0)


def test_sealed_segments_leave_the_page_cache_but_the_newest_two(tmp_path: Path) -> None:
    """Each fsynced sealed segment is advised out of the page cache and closed, but the
    newest two, which a remote-write tail may still be reading."""
    store = SeriesStore()
    wal, _ = recover(tmp_path, store, fsync_s=0, segment_bytes=4096)
    refs = np.asarray([store.ref({"__name__": "m", "i": str(i)}) for i in range(100)])
    for step in range(40):  # 800 bytes a scrape: five a segment
        store.append_refs(refs, step * 1000, np.full(100, float(step)))
    open_here = [
        fd for fd in os.listdir("/proc/self/fd") if tmp_path.name in _target(f"/proc/self/fd/{fd}")
    ]
    assert len(segments(tmp_path)) >= 8 and len(open_here) == 3  # the current one and two
    wal.close()
    back = SeriesStore()
    assert replay(tmp_path, back).samples == 4000


def _target(link: str) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return ""

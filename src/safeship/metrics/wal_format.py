"""The WAL's bytes: how a record is framed, checksummed and decoded, and how files are named.

Where it sits: `metrics/wal.py` writes what `encode_*` return, `metrics/wal_replay.py` reads
them back with `read_records`. Pure: it touches no file. A frame is

    u32 body length | u32 CRC32C of body | body = u8 kind + payload

so a torn tail (the process died mid-write) and a flipped bit both show up as a frame that
does not check out, and everything from there on is cut. A zero length is the end of the
written part of a segment (segments are preallocated with zeros, see metrics/wal.py).
Samples are raw numpy columns (refs, times, values), never text per sample, so logging a
scrape costs a memcpy; CRC32C (Castagnoli, hardware-computed by the `crc32c` package) checks
them at several GB/s where zlib's CRC32 took as long as the write itself.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
from crc32c import crc32c

from safeship.core.labels import Labels

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

_FRAME = struct.Struct("<II")
_SAMPLES = struct.Struct("<BIq")  # shared-time flag, sample count, the shared time
MAX_BODY = 1 << 30  # a length beyond this is garbage, not a record
SEGMENT_PREFIX = "segment-"
CHECKPOINT_PREFIX = "checkpoint-"


class Kind(IntEnum):
    SERIES = 1  # new series: their ids and label sets, so the index survives
    SAMPLES = 2  # one appended batch: refs, times (or one shared time), values
    REFS = 3  # a set of series refs, numbered within its segment, that scrapes reuse
    SCRAPE = 4  # one batch at one time over a logged ref set: set number, time, values


_REF_SET = struct.Struct("<I")
_SCRAPE = struct.Struct("<Iq")  # ref set number, the shared time


@dataclass(frozen=True)
class SampleBatch:
    refs: Ints
    times: Ints | int  # one shared time for a whole scrape, else one per sample
    values: Floats


@dataclass(frozen=True)
class Record:
    kind: Kind
    offset: int  # where the frame starts, so a bad record can be cut off there
    series: tuple[tuple[int, Labels], ...] = ()
    batch: SampleBatch | None = None


Buffers = list[bytes | memoryview]


def frame(kind: Kind, parts: Buffers) -> Buffers:
    """The frame as buffers for `os.writev`: the columns are checksummed and written where
    they lie, never joined into one copy."""
    head = bytes([kind]) + bytes(parts[0])
    crc = crc32c(head)
    for part in parts[1:]:
        crc = crc32c(part, crc)
    length = len(head) + sum(memoryview(p).nbytes for p in parts[1:])
    return [_FRAME.pack(length, crc) + head, *parts[1:]]


def encode_series(series: Sequence[tuple[int, Labels]]) -> Buffers:
    """Label sets are logged once per series, so compact JSON costs nothing that matters."""
    text = json.dumps([[sid, [list(p) for p in labels]] for sid, labels in series])
    return frame(Kind.SERIES, [text.encode()])


def encode_samples(refs: Ints, times: Ints | int, values: Floats) -> Buffers:
    shared = isinstance(times, int)
    header = _SAMPLES.pack(int(shared), refs.size, times if isinstance(times, int) else 0)
    columns = [_column(refs, "<i8")]
    if not isinstance(times, int):
        columns.append(_column(times, "<i8"))
    columns.append(_column(values, "<f8"))
    return frame(Kind.SAMPLES, [header, *columns])


def encode_ref_set(number: int, refs: Ints) -> Buffers:
    """The refs of a scrape, logged once per segment: later scrapes of the same series only
    log their values (half the bytes of a SAMPLES record)."""
    return frame(Kind.REFS, [_REF_SET.pack(number), _column(refs, "<i8")])


def encode_scrape(number: int, t: int, values: Floats) -> Buffers:
    return frame(Kind.SCRAPE, [_SCRAPE.pack(number, t), _column(values, "<f8")])


def _column(array: Ints | Floats, dtype: str) -> memoryview:
    contiguous = np.ascontiguousarray(array, dtype=dtype)
    return memoryview(contiguous.data).cast("B")


def read_records(data: bytes | memoryview, *, end: int | None = None) -> tuple[list[Record], int]:
    """Every valid record of one file from its start (up to `end`), and the offset where the
    valid part ends. A SCRAPE comes back as a SAMPLES record with its ref set filled in."""
    view = memoryview(data)[:end]
    records: list[Record] = []
    offset = 0
    for record, stop in _frames(view):
        records.append(record)
        offset = stop
    return records, offset


def frames(
    data: bytes | memoryview, *, start: int = 0, ref_sets: dict[int, Ints] | None = None
) -> Iterator[tuple[Record, int]]:
    """(record, where it ends) from `start` on, for a reader that tails a segment (remote
    write): `ref_sets` carries the segment's ref sets read so far from one call to the next."""
    return _frames(memoryview(data), start, {} if ref_sets is None else ref_sets)


def _frames(
    view: memoryview, offset: int = 0, ref_sets: dict[int, Ints] | None = None
) -> Iterator[tuple[Record, int]]:
    ref_sets = {} if ref_sets is None else ref_sets  # numbered within this file
    while offset + _FRAME.size <= len(view):
        length, crc = _FRAME.unpack_from(view, offset)
        start, end = offset + _FRAME.size, offset + _FRAME.size + length
        if length == 0 or length > MAX_BODY or end > len(view):
            return  # a torn tail, or a length that is itself garbage
        body = view[start:end]
        if crc32c(body) != crc:
            return
        try:
            yield _decode(body, offset, ref_sets), end
        except (ValueError, struct.error, KeyError):  # checksum right, payload not ours: cut too
            return
        offset = end


def _decode(body: memoryview, offset: int, ref_sets: dict[int, Ints]) -> Record:
    kind, payload = body[0], body[1:]
    if kind == Kind.REFS:
        (number,) = _REF_SET.unpack_from(payload, 0)
        if number != len(ref_sets) or (len(payload) - _REF_SET.size) % 8:
            raise ValueError("ref set out of order")
        ref_sets[number] = np.frombuffer(payload, dtype="<i8", offset=_REF_SET.size).astype(
            np.int64
        )
        return Record(Kind.REFS, offset)
    if kind == Kind.SCRAPE:
        number, t = _SCRAPE.unpack_from(payload, 0)
        refs = ref_sets[number]
        if len(payload) != _SCRAPE.size + 8 * refs.size:
            raise ValueError("scrape record of the wrong size")
        values = np.frombuffer(payload, dtype="<f8", offset=_SCRAPE.size).astype(np.float64)
        return Record(Kind.SAMPLES, offset, batch=SampleBatch(refs, int(t), values))
    if kind == Kind.SERIES:
        rows = json.loads(bytes(payload))
        series = tuple((int(sid), tuple((str(k), str(v)) for k, v in pairs)) for sid, pairs in rows)
        return Record(Kind.SERIES, offset, series=series)
    if kind == Kind.SAMPLES:
        return Record(Kind.SAMPLES, offset, batch=_decode_samples(payload))
    raise ValueError(f"unknown record kind {kind}")


def _decode_samples(payload: memoryview) -> SampleBatch:
    shared, n, t = _SAMPLES.unpack_from(payload, 0)
    columns = 2 if shared else 3
    if len(payload) != _SAMPLES.size + 8 * n * columns:
        raise ValueError("sample record of the wrong size")
    at = _SAMPLES.size
    refs = np.frombuffer(payload, dtype="<i8", count=n, offset=at).astype(np.int64)
    at += 8 * n
    times: Ints | int = t
    if not shared:
        times = np.frombuffer(payload, dtype="<i8", count=n, offset=at).astype(np.int64)
        at += 8 * n
    values = np.frombuffer(payload, dtype="<f8", count=n, offset=at).astype(np.float64)
    return SampleBatch(refs, times, values)


def segment_name(number: int) -> str:
    return f"{SEGMENT_PREFIX}{number:08d}"


def checkpoint_name(number: int) -> str:
    """A checkpoint named N holds everything the segments before N held, within retention."""
    return f"{CHECKPOINT_PREFIX}{number:08d}"


def numbered(names: Sequence[str], prefix: str) -> list[tuple[int, str]]:
    """(number, name) of the files called prefix + digits, in order; others are ignored."""
    found = []
    for name in names:
        digits = name.removeprefix(prefix)
        if name.startswith(prefix) and digits.isdigit():
            found.append((int(digits), name))
    return sorted(found)

"""The WAL's bytes: how a record is framed, checksummed and decoded, and how files are named.

Where it sits: `metrics/wal.py` writes what `encode_*` return, `metrics/wal_replay.py` reads
them back with `read_records`. Pure: it touches no file. A frame is

    u32 body length | u32 CRC32 of body | body = u8 kind + payload

so a torn tail (the process died mid-write) and a flipped bit both show up as a frame that
does not check out, and everything from there on is cut. Samples are raw numpy columns
(refs, times, values), never text per sample, so logging a scrape costs a memcpy.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

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
    crc = zlib.crc32(head)
    for part in parts[1:]:
        crc = zlib.crc32(part, crc)
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


def _column(array: Ints | Floats, dtype: str) -> memoryview:
    contiguous = np.ascontiguousarray(array, dtype=dtype)
    return memoryview(contiguous.data).cast("B")


def read_records(data: bytes | memoryview) -> tuple[list[Record], int]:
    """Every valid record from the start, and the offset where the valid part ends."""
    view = memoryview(data)
    records: list[Record] = []
    offset = 0
    for record, end in _frames(view):
        records.append(record)
        offset = end
    return records, offset


def _frames(view: memoryview) -> Iterator[tuple[Record, int]]:
    offset = 0
    while offset + _FRAME.size <= len(view):
        length, crc = _FRAME.unpack_from(view, offset)
        start, end = offset + _FRAME.size, offset + _FRAME.size + length
        if length == 0 or length > MAX_BODY or end > len(view):
            return  # a torn tail, or a length that is itself garbage
        body = view[start:end]
        if zlib.crc32(body) != crc:
            return
        try:
            yield _decode(body, offset), end
        except (ValueError, struct.error):  # checksum right, payload not ours: cut too
            return
        offset = end


def _decode(body: memoryview, offset: int) -> Record:
    kind, payload = body[0], body[1:]
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

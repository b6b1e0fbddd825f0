"""Prometheus remote write 1.0 on the wire: a snappy-compressed protobuf `WriteRequest`. Pure.

Where it sits: `metrics/remote_in.py` decodes what `POST /api/v1/write` receives;
`metrics/remote_out.py` encodes what it sends. The messages (prompb/types.proto and
remote.proto of Prometheus) are four tiny ones, so they are encoded by hand here instead of
generated:

    WriteRequest { repeated TimeSeries timeseries = 1; reserved 2;
                   repeated MetricMetadata metadata = 3; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
                   repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }  // milliseconds

Fields safeship does not keep (metadata, exemplars, native histograms) are skipped by their
wire type, as any protobuf reader must. The body is snappy's block format ("raw", no framing),
as the protocol says.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cramjam
import numpy as np
import numpy.typing as npt

from safeship.core.errors import InvalidInput
from safeship.core.labels import Labels

MAX_DECODED_BYTES = 64 * 1024 * 1024  # a bigger request is refused before it is inflated
PROTOCOL_VERSION = "0.1.0"  # X-Prometheus-Remote-Write-Version of remote write 1.0
CONTENT_TYPE = "application/x-protobuf"

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
_DOUBLE = struct.Struct("<d")
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5  # protobuf wire types


class BadWriteRequest(InvalidInput):
    """A body that is not a snappy-compressed WriteRequest (answered 400: no retry helps)."""


@dataclass(frozen=True)
class TimeSeries:
    labels: Labels
    samples: Sequence[tuple[int, float]]  # (timestamp ms, value)


# -- encoding ---------------------------------------------------------------------------------
def encode_write_request(series: Sequence[TimeSeries]) -> bytes:
    """The snappy-compressed WriteRequest holding `series`."""
    times = [t for one in series for t, _ in one.samples]
    values = [v for one in series for _, v in one.samples]
    ends = np.cumsum([len(one.samples) for one in series], dtype=np.int64)
    return encode_columns(
        [encode_labels(one.labels) for one in series],
        ends,
        np.asarray(times, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
    )


def encode_labels(labels: Labels) -> bytes:
    """A TimeSeries' label fields, to be cached per series by a sender."""
    out = bytearray()
    for name, value in labels:
        label = bytearray()
        _field_bytes(label, 1, name.encode())
        _field_bytes(label, 2, value.encode())
        _field_bytes(out, 1, label)
    return bytes(out)


def encode_columns(labels: Sequence[bytes], ends: Ints, times: Ints, values: Floats) -> bytes:
    """The WriteRequest of series i = `labels[i]` with the samples ends[i-1]:ends[i] of the
    (time, value) columns, snappy-compressed. Samples are encoded for all series at once."""
    blob, offsets = _samples(times, values)
    out = bytearray()
    start = 0
    for label_fields, end in zip(labels, ends.tolist(), strict=True):
        samples = blob[offsets[start] : offsets[end]]
        out += b"\x0a" + _varint(len(label_fields) + len(samples)) + label_fields + samples
        start = end
    return bytes(cramjam.snappy.compress_raw(bytes(out)))


def _samples(times: Ints, values: Floats) -> tuple[bytes, list[int]]:
    """Every `Sample` field (tag, length, value, timestamp) back to back, and where each starts.

    Vectorised when every timestamp's varint has one length (milliseconds of this century all
    take six bytes), else one sample at a time."""
    n = times.size
    unsigned = times.astype(np.uint64)
    sizes = np.ones(n, dtype=np.int64)
    for k in range(1, 10):
        sizes += unsigned >= np.uint64(1 << (7 * k))
    if n == 0 or np.any(sizes != sizes[0]):
        parts = [_sample(int(t), float(v)) for t, v in zip(times, values, strict=True)]
        return b"".join(parts), np.cumsum([0] + [len(p) for p in parts]).tolist()
    size = int(sizes[0])
    width = 12 + size
    grid = np.empty((n, width), dtype=np.uint8)
    grid[:, 0], grid[:, 1], grid[:, 2] = 0x12, 10 + size, 0x09
    grid[:, 3:11] = values.astype("<f8").view(np.uint8).reshape(n, 8)
    grid[:, 11] = 0x10
    for j in range(size):
        byte = (unsigned >> np.uint64(7 * j)) & np.uint64(0x7F)
        grid[:, 12 + j] = byte | np.uint64(0x80 if j < size - 1 else 0)
    return grid.tobytes(), list(range(0, (n + 1) * width, width))


def _sample(t: int, v: float) -> bytes:
    payload = b"\x09" + _DOUBLE.pack(v) + b"\x10" + _varint(t & 0xFFFFFFFFFFFFFFFF)
    return b"\x12" + _varint(len(payload)) + payload


def _field_bytes(out: bytearray, number: int, payload: bytes | bytearray) -> None:
    out += _varint(number << 3 | _LEN)
    out += _varint(len(payload))
    out += payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# -- decoding ---------------------------------------------------------------------------------
def decode_write_request(body: bytes) -> list[TimeSeries]:
    """The series of a snappy-compressed WriteRequest; BadWriteRequest when it is not one."""
    data = _inflate(body)
    try:
        return [
            _decode_series(value)
            for number, wire, value in _fields(data)
            if number == 1 and wire == _LEN and isinstance(value, memoryview)
        ]
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        raise BadWriteRequest(f"not a remote-write WriteRequest: {exc}") from None


def _inflate(body: bytes) -> memoryview:
    try:
        size = _read_varint(memoryview(body), 0)[0]  # snappy's block starts with its length
        if size > MAX_DECODED_BYTES:
            raise BadWriteRequest(f"request inflates to {size} bytes; at most {MAX_DECODED_BYTES}")
        return memoryview(bytes(cramjam.snappy.decompress_raw(body)))
    except (IndexError, cramjam.DecompressionError) as exc:
        raise BadWriteRequest(f"body is not snappy-compressed (block format): {exc}") from None


def _decode_series(data: memoryview) -> TimeSeries:
    labels: list[tuple[str, str]] = []
    samples: list[tuple[int, float]] = []
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, memoryview):
            labels.append(_decode_label(value))
        elif number == 2 and isinstance(value, memoryview):
            samples.append(_decode_sample(value))
    return TimeSeries(_label_set(labels), samples)


def _label_set(labels: list[tuple[str, str]]) -> Labels:
    """Sorted by name, empty values dropped (an empty label is an absent one); a name given
    twice is refused, as Prometheus refuses it."""
    kept = sorted((name, value) for name, value in labels if value)
    for a, b in itertools.pairwise(kept):
        if a[0] == b[0]:
            raise ValueError(f"label {a[0]!r} given twice")
    return tuple(kept)


def _decode_label(data: memoryview) -> tuple[str, str]:
    name = value = ""
    for number, _, field in _fields(data):
        if number == 1 and isinstance(field, memoryview):
            name = str(field, "utf-8")
        elif number == 2 and isinstance(field, memoryview):
            value = str(field, "utf-8")
    return name, value


def _decode_sample(data: memoryview) -> tuple[int, float]:
    t, v = 0, 0.0
    for number, wire, field in _fields(data):
        if number == 1 and wire == _I64 and isinstance(field, memoryview):
            v = _DOUBLE.unpack(field)[0]
        elif number == 2 and wire == _VARINT and isinstance(field, int):
            t = field - (1 << 64) if field >= 1 << 63 else field
    return t, v


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field: an int for varints, the bytes else."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, at = _read_varint(data, at)
            yield number, wire, value
            continue
        if wire == _LEN:
            size, at = _read_varint(data, at)
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
        else:
            raise ValueError(f"wire type {wire} of field {number} is not supported")
        if at + size > len(data):
            raise ValueError(f"field {number} runs past the end of its message")
        yield number, wire, data[at : at + size]
        at += size


def _read_varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")

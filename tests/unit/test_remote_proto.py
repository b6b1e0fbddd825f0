"""The remote-write wire format: WriteRequest protobuf in snappy blocks, by hand.

Bytes are checked against the protobuf encoding rules (a golden request written out field by
field); the integration tests check the same codec against a real Prometheus both ways.
"""

from __future__ import annotations

import math
import struct

import cramjam
import pytest

from safeship.core.labels import STALE_NAN, make_labels
from safeship.metrics.remote_proto import (
    BadWriteRequest,
    TimeSeries,
    decode_write_request,
    encode_write_request,
)

UP = make_labels({"__name__": "up", "job": "api"})


def raw(series_bodies: list[bytes], extra: bytes = b"") -> bytes:
    body = b"".join(b"\x0a" + bytes([len(s)]) + s for s in series_bodies) + extra
    return bytes(cramjam.snappy.compress_raw(body))


def label(name: str, value: str) -> bytes:
    inner = b"\x0a" + bytes([len(name)]) + name.encode() + b"\x12" + bytes([len(value)])
    inner += value.encode()
    return b"\x0a" + bytes([len(inner)]) + inner


def sample(t: int, v: float) -> bytes:
    varint = bytearray()
    while t > 0x7F:
        varint.append(t & 0x7F | 0x80)
        t >>= 7
    varint.append(t)
    inner = b"\x09" + struct.pack("<d", v) + b"\x10" + bytes(varint)
    return b"\x12" + bytes([len(inner)]) + inner


def test_the_encoding_is_the_protobuf_one_field_by_field() -> None:
    expected = label("__name__", "up") + label("job", "api") + sample(1_700_000_000_000, 1.0)
    body = encode_write_request([TimeSeries(UP, [(1_700_000_000_000, 1.0)])])
    assert bytes(cramjam.snappy.decompress_raw(body)) == b"\x0a" + bytes([len(expected)]) + expected


def test_a_request_decodes_back_with_stale_markers_and_negative_times() -> None:
    series = [
        TimeSeries(UP, [(1000, 1.0), (2000, STALE_NAN)]),
        TimeSeries(make_labels({"__name__": "old"}), [(-5, 2.5)]),
    ]
    back = decode_write_request(encode_write_request(series))
    assert [s.labels for s in back] == [UP, make_labels({"__name__": "old"})]
    assert back[1].samples == [(-5, 2.5)] and back[0].samples[0] == (1000, 1.0)
    stale = back[0].samples[1][1]
    assert math.isnan(stale) and struct.pack("<d", stale) == struct.pack("<d", STALE_NAN)


def test_fields_safeship_does_not_keep_are_skipped() -> None:
    exemplar = b"\x1a\x09\x11" + struct.pack("<d", 9.0)  # TimeSeries.exemplars (3)
    metadata = b"\x1a\x04\x08\x01\x12\x00"  # WriteRequest.metadata (3)
    body = raw(
        [label("job", "api") + label("__name__", "up") + exemplar + sample(7, 3.0)], metadata
    )
    (series,) = decode_write_request(body)
    assert series.labels == UP and series.samples == [(7, 3.0)]


@pytest.mark.parametrize(
    "body",
    [
        b"not snappy at all",
        raw([label("job", "a") + label("job", "b") + sample(1, 1.0)]),  # a label twice
        raw([b"\x12\x30" + b"\x09"]),  # a sample running past its message
        bytes(cramjam.snappy.compress_raw(b"\x0f")),  # wire type 7 does not exist
    ],
)
def test_a_body_that_is_not_a_write_request_is_refused(body: bytes) -> None:
    with pytest.raises(BadWriteRequest):
        decode_write_request(body)


def test_many_series_of_this_century_round_trip_through_the_columnar_encoder() -> None:
    now = 1_700_000_000_000
    series = [
        TimeSeries(
            make_labels({"__name__": "m", "i": str(i)}), [(now + j, i + j / 8) for j in range(i)]
        )
        for i in range(1, 40)
    ]
    assert decode_write_request(encode_write_request(series)) == series

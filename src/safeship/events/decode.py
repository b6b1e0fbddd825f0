"""Batches of events as bytes → decoded objects: a JSON array or NDJSON, maybe gzipped,
within the batch limits. Pure (no I/O).

Where it sits: before `Reader.read` (events/schema.py) for every source that receives bytes
(HTTP ingest, NATS and Kafka messages). Limits are checked before the work they bound: the
compressed size, then the inflated size (a gzip bomb stops at the limit, it is never
inflated whole), then the number of events. A line of NDJSON that is not JSON is one
malformed event, not a refused batch; a JSON array that does not parse is refused whole.
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

import orjson

from safeship.core.errors import InvalidInput
from safeship.events.schema import Malformed


class BatchTooLarge(InvalidInput):
    """A batch over the byte or event limit: split it and send again (HTTP 413)."""

    http_status: ClassVar[int] = 413


def inflate(body: bytes, *, max_bytes: int) -> bytes:
    """The gzip body inflated, refused past `max_bytes` without inflating the rest."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise InvalidInput(f"expected a gzip body (Content-Encoding: gzip): {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise BatchTooLarge(f"batch inflates past {max_bytes} bytes; send smaller batches")
    return out


def decode(
    body: bytes, *, gzip: bool = False, max_bytes: int, max_events: int
) -> tuple[list[Any], list[Malformed]]:
    """(decoded events, malformed lines) of one batch."""
    if len(body) > max_bytes:
        raise BatchTooLarge(f"batch of {len(body)} bytes is over the {max_bytes} byte limit")
    if gzip:
        body = inflate(body, max_bytes=max_bytes)
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        try:
            events = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"expected a JSON array of events or NDJSON: {exc}") from None
        bad: list[Malformed] = []
    else:
        events, bad = _lines(body, max_events)
    if len(events) + len(bad) > max_events:
        raise BatchTooLarge(f"batch of over {max_events} events; send smaller batches")
    return events, bad


def _lines(body: bytes, max_events: int) -> tuple[list[Any], list[Malformed]]:
    stripped = body.strip()
    if stripped.count(b"\n") >= max_events:
        raise BatchTooLarge(f"batch of over {max_events} events; send smaller batches")
    # The usual case, one object on every line and no blank line: newlines become commas and
    # one parse reads them all (twice as fast as a parse per line). Anything else, a line
    # holding `1,2` included (it would parse as two), takes the careful way.
    lines = stripped.count(b"\n") + 1 if stripped else 0
    try:
        joined = orjson.loads(b"[" + stripped.replace(b"\n", b",") + b"]")
        if len(joined) == lines and all(type(e) is dict for e in joined):
            return joined, []
    except orjson.JSONDecodeError:
        pass
    return _each_line([line for line in body.splitlines() if line.strip()])


def _each_line(lines: list[bytes]) -> tuple[list[Any], list[Malformed]]:
    events: list[Any] = []
    bad: list[Malformed] = []
    for line in lines:
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            text = line[:512].decode(errors="replace")
            bad.append(Malformed("expected one JSON object per line", text))
    return events, bad

"""Response heads from a backend, made fit for the client: pure byte work, no I/O.

The router relays response bodies as they come but rewrites every head: the status line says
HTTP/1.1, connection headers (Connection, Keep-Alive, those Connection names, Upgrade) are
dropped because they describe the upstream connection, not the client's, and the framing is
read so the router knows where the response ends without trusting the backend to say so
twice (`parse_head`: one `split` and a short loop over the header lines).
The usual response (`UsualResponse`: whole, HTTP/1.1, one Content-Length, at most a plain
Connection header, every line well formed) is checked by llhttp instead and relayed as it
came, but for its Connection line: same result for the client, no rebuilding on the hot path.
"""

from __future__ import annotations

from typing import NamedTuple

import httptools

from safeship.traffic.proxy.http import CONNECTION_OPTIONS

CHUNKED = -1  # body framed by chunks
UNTIL_CLOSE = -2  # body ends when the backend closes
MAX_HEAD = 64 * 1024  # a longer response head is a broken backend (nginx: "too big header")

# Response headers about the upstream connection, dropped; framing ones are kept aside.
_DROPPED = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"upgrade", b"trailer"})
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


class ResponseHead(NamedTuple):
    """A parsed response head: `lines` to relay (status line first, no framing, no CRLF at
    the end), `framing` its original Content-Length/Transfer-Encoding lines, `length` the
    body length or CHUNKED / UNTIL_CLOSE, and whether the upstream connection may be reused."""

    status: int
    lines: bytes
    framing: bytes
    length: int
    reusable: bool


# Header names the usual response may carry only as one Content-Length and at most one plain
# Connection (keep-alive or close); any other of them sends the response to `parse_head`.
_NOTABLE_NAMES = frozenset({b"content-length", b"connection", *_DROPPED, *_FRAMING})
_NOTABLE_LENGTHS = frozenset(len(name) for name in _NOTABLE_NAMES)


class UsualResponse:
    """llhttp (C, strict: bad tokens, whitespace before a colon, obs-folds, bare CR or LF,
    conflicting framing are all errors) reading the usual response: one whole final response,
    HTTP/1.1, framed by one Content-Length, at most a plain Connection header, nothing after
    it. Such a response is relayed as it came but for its Connection line, with no head
    rebuilt. One reader per upstream connection keeps its parser in step with the responses;
    after anything else (`read` returns None) the parser is mid-message and the reader spent.
    Callbacks: one per header and two per response, where a regex over the head cost 3x."""

    __slots__ = ("_connection", "_done", "_extra", "_length", "_odd", "_parser")

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._connection: tuple[bytes, bytes] | None = None
        self._length: bytes | None = None  # the Content-Length value (llhttp checked it)
        self._odd = self._done = self._extra = False

    def read(self, data: bytes) -> tuple[int, int, int, bool, int] | None:
        """(status, start and end of the Connection line in `data` (both `len(data)` when
        there is none), reusable, body bytes still to come) when `data` is one usual response
        or its whole head and the start of its body; else None. Once a body is still to come
        the parser is left behind too: the caller counts the rest and makes a new reader."""
        self._connection = self._length = None
        self._odd = self._done = self._extra = False
        parser = self._parser
        try:
            parser.feed_data(data)
        except httptools.HttpParserError:
            return None
        if self._extra or self._odd or self._length is None:
            return None
        left = 0
        if not self._done:  # seldom: a body longer than one read
            end = data.find(b"\r\n\r\n")
            if end < 0:
                return None
            left = int(self._length) - (len(data) - end - 4)
        status = parser.get_status_code()
        if status < 200 or status == 204 or status == 304 or data[:9] != b"HTTP/1.1 ":
            return None
        if self._connection is None:
            return status, len(data), len(data), True, left
        name, value = self._connection
        option = value.lower()
        if option != b"keep-alive" and option != b"close":
            return None  # options naming headers to drop: parse_head drops them
        cut_from = data.find(b"\r\n" + name + b":")  # the head comes first: found there
        return status, cut_from, data.find(b"\r\n", cut_from + 2), option == b"keep-alive", left

    # llhttp callbacks

    def on_message_begin(self) -> None:
        self._extra = self._done  # a second response (or a 1xx before this one)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) not in _NOTABLE_LENGTHS:  # most headers: no lowering needed
            return
        lowered = name.lower()
        if lowered == b"content-length":
            self._length = value  # llhttp refuses a second one, a bad value and chunked too
        elif lowered == b"connection" and self._connection is None:
            self._connection = (name, value)
        elif lowered in _NOTABLE_NAMES:
            self._odd = True

    def on_message_complete(self) -> None:
        self._done = True


def parse_head(head: bytes) -> ResponseHead | None:
    """`head` is everything before the blank line; None when it is not a valid response
    (a bare CR or LF, an obs-fold, whitespace before a colon, conflicting framing...)."""
    if head.count(b"\n") != head.count(b"\r\n") or head.count(b"\r") != head.count(b"\n"):
        return None  # a bare CR or LF: a client could read a line the router did not
    lines = head.split(b"\r\n")
    first = lines[0]
    if first[:7] != b"HTTP/1." or first[8:9] != b" " or not first[9:12].isdigit():
        return None
    if len(first) > 12 and first[12:13] != b" ":
        return None
    kept, framing = [b"HTTP/1.1" + first[8:]], []
    length, chunked, encoded, options = -1, False, False, b""
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name[-1] in b" \t" or line[0] in b" \t":
            return None  # whitespace before the colon, obs-fold or no colon at all
        lowered = name.lower()
        if lowered in _FRAMING:
            value = value.strip()
            framing.append(line)
            if lowered == b"transfer-encoding":
                encoded = True
                chunked = value.lower().rpartition(b",")[2].strip() == b"chunked"
            elif not value.isdigit() or length not in (-1, int(value)):
                return None  # a bad or conflicting Content-Length: no safe way to frame it
            else:
                length = int(value)
        elif lowered in _DROPPED:
            if lowered == b"connection":
                options += b"," + value
        else:
            kept.append(line)
    tokens = {t.strip() for t in options.lower().split(b",")}
    if tokens - CONNECTION_OPTIONS - {b""}:
        kept = _without(kept, tokens - CONNECTION_OPTIONS)
    reusable = b"close" not in tokens and (first[7:8] == b"1" or b"keep-alive" in tokens)
    if encoded:  # Transfer-Encoding wins over Content-Length (RFC 9112 §6.3); no reuse then
        reusable = reusable and length == -1 and chunked
        length = CHUNKED if chunked else UNTIL_CLOSE
    elif length == -1:
        length, reusable = UNTIL_CLOSE, False
    return ResponseHead(
        status=int(first[9:12]),
        lines=b"\r\n".join(kept),
        framing=b"".join(f + b"\r\n" for f in framing),
        length=length,
        reusable=reusable,
    )


def _without(lines: list[bytes], names: set[bytes]) -> list[bytes]:
    return [lines[0]] + [h for h in lines[1:] if h.partition(b":")[0].lower() not in names]


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)

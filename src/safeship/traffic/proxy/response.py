"""Response heads from a backend, made fit for the client: pure byte work, no I/O.

The router relays response bodies as they come but rewrites every head: the status line says
HTTP/1.1, connection headers (Connection, Keep-Alive, those Connection names, Upgrade) are
dropped because they describe the upstream connection, not the client's, and the framing is
read so the router knows where the response ends without trusting the backend to say so
twice. One `split` and a short loop over the header lines: this runs once per response.
The usual head (`clean_head`: HTTP/1.1, one Content-Length, at most a plain Connection header,
every line well formed) is checked in one regex pass instead and relayed as it came, but for
its Connection line: same result for the client, no rebuilding on the hot path.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from safeship.traffic.proxy.http import CONNECTION_OPTIONS

CHUNKED = -1  # body framed by chunks
UNTIL_CLOSE = -2  # body ends when the backend closes
_AFTER_CODE = (b" ", b"")  # "HTTP/1.1 200 OK" or "HTTP/1.1 200"
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


# The names of the lines the fast path must look at (framing and connection headers) and
# obs-folds (b""), found in one pass over the lowered head.
_NOTABLE = re.compile(
    rb"\r\n(?:(content-length|connection|transfer-encoding|keep-alive|proxy-connection"
    rb"|upgrade|trailer)[ \t]*:|[ \t])"
)
_USUAL = (
    [b"content-length"],
    [b"content-length", b"connection"],
    [b"connection", b"content-length"],
)
_PLAIN_CONNECTION = (b"keep-alive", b"close")
_WHITESPACE_COLON = re.compile(rb"[ \t]:")


def parse_head(head: bytes) -> ResponseHead | None:
    """`head` is everything before the blank line; None when it is not a valid response.
    The usual head (HTTP/1.1, one Content-Length, at most a plain Connection header) is
    read with one regex pass and a few C-level searches; anything else (or anything odd,
    such as whitespace before a colon) takes the line-by-line path."""
    lowered = head.lower()
    names = _NOTABLE.findall(lowered)
    if (
        names not in _USUAL
        or head[:9] != b"HTTP/1.1 "
        or _WHITESPACE_COLON.search(lowered)
        or not head[9:12].isdigit()
        or head[12:13] not in _AFTER_CODE
    ):
        return _parse_lines(head)
    at = lowered.find(b"\r\ncontent-length:")
    end = _line_end(lowered, at)
    value = head[at + 17 : end].strip()
    if not value.isdigit():
        return _parse_lines(head)
    framing = head[at + 2 : end] + b"\r\n"
    if len(names) == 1:
        return ResponseHead(int(head[9:12]), head[:at] + head[end:], framing, int(value), True)
    cut = lowered.find(b"\r\nconnection:")
    cut_end = _line_end(lowered, cut)
    option = lowered[cut + 13 : cut_end].strip()
    if option not in _PLAIN_CONNECTION:
        return _parse_lines(head)
    first, second = sorted(((at, end), (cut, cut_end)))
    kept = head[: first[0]] + head[first[1] : second[0]] + head[second[1] :]
    return ResponseHead(int(head[9:12]), kept, framing, int(value), option != b"close")


# A whole clean response head, lowered, in one regex pass: a status line, then header lines
# each `token:value` (so no obs-fold, no whitespace before a colon, no line without a colon),
# exactly one Content-Length and at most one plain Connection header, and none of the other
# framing or connection headers (`_OTHER` refuses their names, whatever comes after them).
# Possessive quantifiers (`*+`): no line can be read two ways, and sre then skips the
# backtracking bookkeeping (about 20 % faster).
_OTHER = (
    rb"(?:\r\n(?!(?:content-length|connection|transfer-encoding|keep-alive|proxy-connection"
    rb"|upgrade|trailer)[ \t]*:)[!#$%&'*+\-.^_`|~0-9a-z]++:[^\r\n]*+)*+"
)
_CONNECTION = rb"(\r\nconnection:[ \t]*(keep-alive|close)[ \t]*)"
_LENGTH = rb"\r\ncontent-length:[ \t]*([0-9]+)[ \t]*"
_CLEAN = re.compile(
    rb"http/1\.1 ([2-5][0-9][0-9])(?: [^\r\n]*+)?"
    + (_OTHER + rb"(?:" + _CONNECTION + _OTHER + _LENGTH)
    + (rb"|" + _LENGTH + _OTHER + _CONNECTION + rb"?)" + _OTHER)
)


def clean_head(data: bytes, end: int) -> tuple[int, int, int, int, bool] | None:
    """The usual final response head, `data[:end]`, checked in one pass so that it can be
    relayed as it is but for its Connection line: (status, Content-Length, start and end of
    the Connection line in `data` (both `end` when there is none), reusable). None when the
    head is anything else (1xx, HTTP/1.0, chunked, odd lines...): `parse_head` reads those.
    The Content-Length line stays where it is; the value is digits only, as it must be."""
    if not data.startswith(b"HTTP/1.1 "):  # the regex sees the lowered head
        return None
    match = _CLEAN.fullmatch(data[:end].lower())
    if match is None:
        return None
    status, first, option, length, later_length, _, later_option = match.groups()
    if first is not None:
        cut_from, cut_to = match.span(2)
    elif later_option is not None:
        cut_from, cut_to, option, length = *match.span(6), later_option, later_length
    else:
        cut_from = cut_to = end
        length = later_length
    return int(status), int(length), cut_from, cut_to, option != b"close"


def _line_end(head: bytes, start: int) -> int:
    end = head.find(b"\r\n", start + 2)
    return len(head) if end < 0 else end


def _parse_lines(head: bytes) -> ResponseHead | None:
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

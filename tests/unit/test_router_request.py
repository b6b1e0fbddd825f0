"""The router's reading of the usual request (`SIMPLE`, one regex pass) held to llhttp's.

Whatever the regex accepts must be a request llhttp and the callbacks accept too, and must
be forwarded as the same bytes: the regex is only a shortcut, never a second opinion.
"""

from __future__ import annotations

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeship.traffic.proxy.http import Payload
from safeship.traffic.proxy.limits import Limits
from safeship.traffic.proxy.request import Budget, RequestReader

Read = tuple[Payload, bytes, bool, bool, int]


class Recorder(RequestReader):
    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__(limits or Limits(), Budget(1 << 30))
        self.peer = b"10.0.0.7"
        self.read: list[Read] = []

    def request_read(
        self, payload: Payload, method: bytes, keep_alive: bool, http10: bool, held: int
    ) -> None:
        self.read.append((payload, method, keep_alive, http10, held))


def by_llhttp(data: bytes, limits: Limits | None = None) -> list[Read] | None:
    """What the callbacks make of `data`; None when they refuse it."""
    reader = Recorder(limits)
    try:
        reader.parser.feed_data(data)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # Refused as the cause
        return None
    return reader.read


def by_regex(data: bytes, limits: Limits | None = None) -> list[Read] | None:
    reader = Recorder(limits)
    return reader.read if reader.read_simple(data) else None


USUAL = b"GET /a?b=1 HTTP/1.1\r\nHost: svc:8080\r\nAccept: */*\r\nUser-Agent: t/1.0\r\n\r\n"


@pytest.mark.parametrize(
    "data",
    [
        USUAL,
        b"HEAD / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        USUAL.replace(b"*/*", b"text/html,  application/xml;q=0.9\t*/*;q=0.8"),
        USUAL.replace(b"Accept: */*", b"X-Empty: \r\nCookie: a=b; c=d"),
    ],
)
def test_the_usual_request_takes_the_shortcut_and_is_forwarded_as_llhttp_would(
    data: bytes,
) -> None:
    fast = by_regex(data)
    assert fast is not None and fast == by_llhttp(data)
    payload = fast[0][0]
    assert payload.startswith(data[:-2]) and payload.endswith(
        b"X-Forwarded-Proto: http\r\n"
        b"X-Forwarded-Host: " + data.split(b"Host: ")[1].split(b"\r\n")[0] + b"\r\n\r\n"
    )


@pytest.mark.parametrize(
    "data",
    [
        USUAL.replace(b"Host: svc:8080\r\n", b""),  # no Host
        USUAL.replace(b"Accept", b"Host"),  # two Hosts
        USUAL.replace(b"Host: ", b"host: "),  # llhttp reads it; the callbacks rebuild it
        USUAL.replace(b"GET /a?b=1", b"GET http://evil.example/x"),  # absolute form
        USUAL.replace(b"Accept: */*", b"Transfer-Encoding: chunked"),
        USUAL.replace(b"Accept: */*", b"Content-Length: 0"),
        USUAL.replace(b"Accept: */*", b"Connection: close"),
        USUAL.replace(b"Accept: */*", b"Expect: 100-continue"),
        USUAL.replace(b"Accept: */*", b"X-Forwarded-For: 1.2.3.4"),
        USUAL.replace(b"Accept: */*", b"Accept:  */*"),  # llhttp drops the extra space
        USUAL.replace(b"Accept: */*", b"Accept : */*"),
        USUAL.replace(b"Accept: */*\r\n", b"Accept: */*\r\n folded\r\n"),
        USUAL.replace(b"\r\nAccept", b"\nAccept"),
        USUAL.replace(b"GET", b"POST"),
        USUAL.replace(b"HTTP/1.1", b"HTTP/1.0"),
        USUAL + b"GET / HTTP/1.1\r\n",  # a second request behind it
        USUAL[:-2],  # not whole
        b"CONNECT svc:443 HTTP/1.1\r\nHost: svc:443\r\n\r\n",
    ],
)
def test_anything_unusual_is_left_to_llhttp(data: bytes) -> None:
    assert by_regex(data) is None


def test_the_shortcut_keeps_every_limit() -> None:
    long_target = USUAL.replace(b"/a?b=1", b"/" + b"a" * 9000)
    assert by_regex(long_target) is None and by_llhttp(long_target) is None
    many = USUAL.replace(b"Accept: */*\r\n", b"".join(b"X-%d: v\r\n" % i for i in range(120)))
    assert by_regex(many) is None and by_llhttp(many) is None
    few = Limits(header_count=2)
    assert by_regex(USUAL, few) is None and by_llhttp(USUAL, few) is None


_METHODS = st.sampled_from([b"GET", b"HEAD", b"POST", b"get", b"DELETE", b"OPTIONS"])
_TARGETS = st.sampled_from(
    [b"/", b"/a?b=1", b"/%2F/x", b"/#f", b'/"<>\\^`{|}', b"/a b", b"/\x7f", b"/\xc3\xbc", b"*"]
    + [b"http://h/p", b"//x", b"/a\tb", b""]
)
_VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"http/1.1", b"HTTP/2"])
_LINES = st.sampled_from(
    [b"Host: svc", b"Host: svc:80", b"host: svc", b"HOST: svc", b"Host:svc", b"Host: s v"]
    + [b"Host: ", b"Host: [::1]:8", b"Host: a@b", b"Host: svc ", b"Host: \xff"]
    + [b"Accept: */*", b"X-A:  b", b"X-A: b ", b"X-A : b", b" X-A: b", b"X-A: b\tc"]
    + [b"X-A: \x01", b"X-A: \xff", b"X-A: ", b"X-A:", b"X(A): b", b": b", b"Hostname: y"]
    + [b"Connection: close", b"Connection: keep-alive", b"Content-Length: 0", b"TE: trailers"]
    + [b"Transfer-Encoding: chunked", b"Expect: 100-continue", b"Upgrade: h2c"]
    + [b"X-Forwarded-For: 1.2.3.4", b"Forwarded: for=x", b"Proxy-Authorization: x"]
    + [b"Keep-Alive: 5", b"Proxy-Connection: keep-alive", b"Content-Lengthy: 1", b"Cookie: a=b"]
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    line_end = draw(st.sampled_from([b"\r\n"] * 9 + [b"\n", b"\r"]))
    head = draw(_METHODS) + b" " + draw(_TARGETS) + b" " + draw(_VERSIONS)
    lines = [head, *draw(st.lists(_LINES, max_size=5))]
    tail = draw(st.sampled_from([b"", b"", b"", b"x", b"GET / HTTP/1.1\r\n", b"\r\n"]))
    return line_end.join(lines) + line_end + b"\r\n" + tail


@settings(max_examples=3000, deadline=None)
@given(requests())
def test_the_shortcut_never_accepts_what_llhttp_reads_otherwise(data: bytes) -> None:
    fast = by_regex(data)
    if fast is not None:
        assert by_llhttp(data) == fast

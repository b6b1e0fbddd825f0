"""What the embedded router puts on the wire: rebuilt requests and its own error answers."""

from __future__ import annotations

import pytest

from safeship.traffic.proxy.http import (
    JOINED_BODY,
    drop_listed,
    forwarded_for,
    forwarding,
    origin_form,
    router_error,
    upstream_request,
)
from safeship.traffic.proxy.response import (
    CHUNKED,
    UNTIL_CLOSE,
    UsualResponse,
    chunk,
    parse_head,
)


def test_upstream_request_keeps_end_to_end_headers_and_adds_forwarded_for() -> None:
    head = upstream_request(
        method=b"GET",
        target=b"/a?b=1",
        host=b"svc",
        headers=[b"Accept: */*\r\n"],
        forwarded=forwarding(chain=None, client_ip=b"10.0.0.1", proto=b"http", host=b"svc"),
        body=[],
        size=0,
    )
    assert head == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"X-Forwarded-Proto: http\r\nX-Forwarded-Host: svc\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("method", "length", "framing"),
    [
        (b"POST", 5, b"Content-Length: 5\r\n"),
        (b"POST", 0, b"Content-Length: 0\r\n"),  # POST always says how long its body is
        (b"DELETE", 3, b"Content-Length: 3\r\n"),
        (b"GET", 0, None),
    ],
)
def test_request_body_is_framed_with_content_length(
    method: bytes, length: int, framing: bytes | None
) -> None:
    body = b"x" * length
    request = upstream_request(
        method=method, target=b"/", host=b"h", headers=[], forwarded=b"", body=[body], size=length
    )
    assert isinstance(request, bytes)  # a small body is joined to the head: one write
    head, _, sent_body = request.partition(b"\r\n\r\n")
    if framing is None:
        assert b"Content-Length" not in head
    else:
        assert framing in head + b"\r\n"
    assert sent_body == body


def test_a_large_body_is_sent_as_the_chunks_read_never_joined() -> None:
    chunks = [b"a" * JOINED_BODY, b"b" * 10]
    request = upstream_request(
        method=b"PUT",
        target=b"/",
        host=b"h",
        headers=[],
        forwarded=b"",
        body=chunks,
        size=len(chunks[0]) + 10,
    )
    assert isinstance(request, tuple)
    head, *body = request
    assert head.endswith(b"Content-Length: %d\r\n\r\n" % (JOINED_BODY + 10))
    assert all(sent is read for sent, read in zip(body, chunks, strict=True))  # not copied


@pytest.mark.parametrize(
    ("previous", "client", "expected"),
    [
        (None, b"127.0.0.1", b"127.0.0.1"),
        (b"1.2.3.4", b"127.0.0.1", b"1.2.3.4, 127.0.0.1"),
        (b"", b"::1", b"::1"),
    ],
)
def test_forwarded_for_appends_the_client(
    previous: bytes | None, client: bytes, expected: bytes
) -> None:
    assert forwarded_for(previous, client) == expected


def test_router_errors_are_tagged_and_framed() -> None:
    answer = router_error(502, "every backend tried failed", close=False)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"X-Safeship-Router: error" in head
    assert b"Connection: close" not in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == b"every backend tried failed\n"
    assert b"Connection: close" in router_error(503, "none", close=True)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/a?b", (b"/a?b", None)),
        (b"*", (b"*", None)),
        (b"http://evil.example/x?y=1", (b"/x?y=1", b"evil.example")),
        (b"HTTP://h:8080", (b"/", b"h:8080")),
        (b"https://h?q", (b"/?q", b"h")),
        (b"ftp://h/", None),
        (b"http://user@h/", None),
        (b"http:///x", None),
        (b"a:443", None),
    ],
)
def test_origin_form_takes_the_authority_of_the_absolute_form(
    target: bytes, expected: tuple[bytes, bytes | None] | None
) -> None:
    assert origin_form(target) == expected


def test_headers_named_by_connection_are_dropped() -> None:
    headers = [b"X-A: 1\r\n", b"x-b: 2\r\n", b"X-C: 3\r\n"]
    assert drop_listed(headers, b",keep-alive, X-A ,x-B") == [b"X-C: 3\r\n"]
    assert drop_listed(headers, b",close") is headers


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5", (200, 5, True)),
        (b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0", (404, 0, False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1", (200, 1, False)),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1", (200, 1, True)),
        (b"HTTP/1.1 200 OK", (200, UNTIL_CLOSE, False)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked", (200, CHUNKED, True)),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3",
            (200, CHUNKED, False),
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", (200, UNTIL_CLOSE, False)),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </a>", (103, UNTIL_CLOSE, False)),
    ],
)
def test_response_heads_give_status_framing_and_reuse(
    head: bytes, expected: tuple[int, int, bool]
) -> None:
    parsed = parse_head(head)
    assert parsed is not None
    assert (parsed.status, parsed.length, parsed.reusable) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"garbage",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1",
        b"HTTP/1.1 200 OK\r\nX-A: b\r\n folded",
        b"HTTP/1.1 200 OK\r\nX-A : b",
        b"HTTP/1.1 200 OK\r\nno colon",
        b"HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 0",  # bare LF: a line for the client
        b"HTTP/1.1 200 OK\r\nX-A: b\rContent-Length: 0",
    ],
)
def test_broken_response_heads_are_refused(head: bytes) -> None:
    assert parse_head(head) is None


def test_response_head_loses_connection_headers_and_says_http11() -> None:
    parsed = parse_head(
        b"HTTP/1.0 200 OK\r\nX-Version: v1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
        b"Keep-Alive: timeout=5\r\nContent-Length: 2"
    )
    assert parsed is not None
    assert parsed.lines == b"HTTP/1.1 200 OK\r\nX-Version: v1"
    assert parsed.framing == b"Content-Length: 2\r\n"


_NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 01 Dec 2026 15:09:32 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n"
)


@pytest.mark.parametrize(
    ("response", "relayed"),
    [
        (_NGINX, _NGINX.replace(b"Connection: keep-alive\r\n", b"")),
        (_NGINX.replace(b"Connection: keep-alive\r\n", b""), None),  # None: verbatim
        (
            _NGINX.replace(b"keep-alive", b"Close"),
            _NGINX.replace(b"Connection: keep-alive\r\n", b""),
        ),
        (
            b"HTTP/1.1 404 X\r\nconnection: close\r\nA: b\r\ncontent-length:0  \r\n\r\n",
            b"HTTP/1.1 404 X\r\nA: b\r\ncontent-length:0  \r\n\r\n",
        ),
        (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi", None),
        (b"HTTP/1.1 200 OK\r\nUpgrade-Insecure: 1\r\nContent-Length: 1\r\n\r\nx", None),
    ],
)
def test_usual_responses_are_read_by_llhttp_and_agree_with_parse_head(
    response: bytes, relayed: bytes | None
) -> None:
    end = response.find(b"\r\n\r\n")
    reader = UsualResponse()
    parsed = parse_head(response[:end])
    assert parsed is not None
    for _ in range(2 if parsed.reusable else 1):  # in step with a connection's responses
        found = reader.read(response)
        assert found is not None
        status, cut_from, cut_to, reusable, left = found
        assert (status, reusable, left) == (parsed.status, parsed.reusable, 0)
        assert len(response) - end - 4 == parsed.length
        assert response[:cut_from] + response[cut_to:] == (relayed or response)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 1",  # the router says HTTP/1.1 itself
        b"http/1.1 200 OK\r\nContent-Length: 1",
        b"HTTP/1.1 103 Early Hints\r\nContent-Length: 1",
        b"HTTP/1.1 200 OK",  # no Content-Length: until close
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1",
        b"HTTP/1.1 200 OK\r\nContent-Length: +1",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nKeep-Alive: timeout=5",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive, X-Hop",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\nConnection: close",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A : b",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-A: b\r\n folded",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nno colon",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n: empty name",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\nX-Bare-LF: 1",
        b"HTTP/1.1 200 OK\r\ncontent-length : 1",
    ],
)
def test_other_heads_are_left_to_parse_head(head: bytes) -> None:
    assert UsualResponse().read(head + b"\r\n\r\nx") is None


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",  # a second one
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX",  # garbage after it
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\n"
        b"Content-Length: 2\r\n\r\nok",  # an interim response first
        b"HTTP/1.1 200 OK\r\nContent-Len",  # the head continues
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",  # bodiless by status
    ],
)
def test_anything_but_one_whole_response_is_left_to_parse_head(data: bytes) -> None:
    assert UsualResponse().read(data) is None


def test_a_body_longer_than_one_read_is_counted_by_the_caller() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhe"
    found = UsualResponse().read(data)
    assert found is not None
    status, cut_from, cut_to, reusable, left = found
    assert (status, reusable, left) == (200, True, 3)
    assert data[:cut_from] + data[cut_to:] == data.replace(b"\r\nConnection: keep-alive", b"")


def test_chunk_frames_data() -> None:
    assert chunk(b"hello world!!!!!") == b"10\r\nhello world!!!!!\r\n"

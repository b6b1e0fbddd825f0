"""What the embedded router puts on the wire: rebuilt requests and its own error answers."""

from __future__ import annotations

import pytest

from safeship.traffic.proxy.http import (
    forwarded_for,
    head_end,
    head_status,
    router_error,
    upstream_request,
)


def test_upstream_request_keeps_end_to_end_headers_and_adds_forwarded_for() -> None:
    head = upstream_request(
        method=b"GET",
        target=b"/a?b=1",
        headers=[b"Host: svc\r\n", b"Accept: */*\r\n"],
        forwarded_for=b"10.0.0.1",
        body=b"",
    )
    assert head == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
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
        method=method, target=b"/", headers=[], forwarded_for=b"ip", body=body
    )
    head, _, sent_body = request.partition(b"\r\n\r\n")
    if framing is None:
        assert b"Content-Length" not in head
    else:
        assert framing in head + b"\r\n"
    assert sent_body == body


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
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", (200, True)),
        (b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n", (404, False)),
        (b"HTTP/1.0 200 OK\r\n\r\n", (200, False)),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", (200, True)),
        (b"garbage\r\n\r\n", (0, False)),
    ],
)
def test_head_status_reads_code_and_keep_alive(head: bytes, expected: tuple[int, bool]) -> None:
    assert head_status(head) == expected


def test_head_end_finds_the_blank_line() -> None:
    assert head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n") == -1
    data = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"
    assert head_end(data) == len(data)

"""HTTP/1.1 wire helpers of the embedded router: what is forwarded, what the router says itself.

Pure byte manipulation, no I/O. The request side is rebuilt (hop-by-hop headers dropped,
body re-framed with Content-Length, X-Forwarded-For added); the response side is relayed
verbatim, so only the end of a HEAD response's head needs finding here.
"""

from __future__ import annotations

# Headers that describe one connection, not the message; the router sets its own framing.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"content-length",
        b"te",
        b"trailer",
        b"upgrade",
        b"expect",
        b"x-forwarded-for",
    }
)

# Methods that can be sent twice without harm, so a failed try may be repeated elsewhere.
IDEMPOTENT: frozenset[bytes] = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS"})

# Methods whose request carries a body by definition, so an empty one is sent as length 0.
BODY_METHODS: frozenset[bytes] = frozenset({b"POST", b"PUT", b"PATCH"})

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
ROUTER_HEADER = "X-Safeship-Router"

_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def upstream_request(
    *, method: bytes, target: bytes, headers: list[bytes], forwarded_for: bytes, body: bytes
) -> bytes:
    """The request sent upstream; `headers` are complete `Name: value\\r\\n` lines, end-to-end
    only. One join for head and body: this runs once per proxied request."""
    framing = b"" if not body and method not in BODY_METHODS else b"%d" % len(body)
    parts = [method, b" ", target, b" HTTP/1.1\r\n", *headers]
    parts.append(b"X-Forwarded-For: " + forwarded_for + b"\r\n")
    if framing:
        parts.append(b"Content-Length: " + framing + b"\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


def forwarded_for(previous: bytes | None, client_ip: bytes) -> bytes:
    """Append the client to an existing X-Forwarded-For chain."""
    return previous + b", " + client_ip if previous else client_ip


def router_error(status: int, message: str, *, close: bool) -> bytes:
    """A response the router makes itself, tagged so clients can tell it from the backend's."""
    body = (message + "\n").encode()
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        f"{ROUTER_HEADER}: error",
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def head_end(buffer: bytes) -> int:
    """Offset just past the blank line ending a response head, or -1 if not there yet."""
    at = buffer.find(b"\r\n\r\n")
    return -1 if at < 0 else at + 4


def head_status(head: bytes) -> tuple[int, bool]:
    """(status code, keep-alive) of a complete response head; (0, False) when malformed."""
    first, _, rest = head.partition(b"\r\n")
    fields = first.split(b" ", 2)
    if len(fields) < 2 or not fields[1].isdigit() or not fields[0].startswith(b"HTTP/1."):
        return 0, False
    lowered = rest.lower()
    if fields[0] == b"HTTP/1.0":
        return int(fields[1]), b"connection: keep-alive" in lowered
    return int(fields[1]), b"connection: close" not in lowered

"""HTTP/1.1 wire helpers of the embedded router: what is forwarded, what the router says itself.

Pure byte manipulation, no I/O. The request side is rebuilt (hop-by-hop headers dropped,
Host from the target's authority or the one Host header, body re-framed with Content-Length,
X-Forwarded-* set); the response side is in response.py.
"""

from __future__ import annotations

# Request headers the router does not copy as they come: framing and connection headers (it
# sets its own), proxy credentials, and what it rebuilds (Host, X-Forwarded-*, Forwarded).
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"transfer-encoding",
        b"content-length",
        b"te",
        b"trailer",
        b"upgrade",
        b"expect",
        b"host",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
        b"x-real-ip",
    }
)

# Tokens of a Connection header that are options, not names of headers to drop.
CONNECTION_OPTIONS: frozenset[bytes] = frozenset({b"close", b"keep-alive", b"upgrade"})

# Bytes a Host value may hold (RFC 3986 reg-name, IP literals, port): anything else is a 400.
HOST_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+;=:[]%"

# Methods that can be sent twice without harm, so a failed try may be repeated elsewhere.
IDEMPOTENT: frozenset[bytes] = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS"})

# Methods whose request carries a body by definition, so an empty one is sent as length 0.
BODY_METHODS: frozenset[bytes] = frozenset({b"POST", b"PUT", b"PATCH"})

# A request as written upstream: one string, or its head then its body's chunks as they were
# read, written together (writev) and never joined: a large body is not copied twice more.
Payload = bytes | tuple[bytes, ...]
JOINED_BODY = 64 * 1024  # bodies shorter than this are joined to the head: one write

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
ROUTER_HEADER = "X-Safeship-Router"

_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def upstream_request(
    method: bytes,
    target: bytes,
    host: bytes,
    headers: list[bytes],
    forwarded: bytes,
    body: list[bytes],
    size: int,
) -> Payload:
    """The request sent upstream; `headers` are complete `Name: value\\r\\n` lines, end-to-end
    only, `forwarded` the X-Forwarded-* lines, `body` the chunks of `size` bytes. One join:
    this runs once per proxied request (which is also why the router calls it with
    positional arguments)."""
    framing = b"" if not size and method not in BODY_METHODS else b"%d" % size
    parts = [method, b" ", target, b" HTTP/1.1\r\nHost: ", host, b"\r\n", *headers, forwarded]
    if framing:
        parts.append(b"Content-Length: " + framing + b"\r\n")
    parts.append(b"\r\n")
    if size < JOINED_BODY:
        return b"".join(parts + body)
    return (b"".join(parts), *body)


def forwarded_for(previous: bytes | None, client_ip: bytes) -> bytes:
    """Append the client to an existing X-Forwarded-For chain."""
    return previous + b", " + client_ip if previous else client_ip


def forwarding(chain: bytes | None, client_ip: bytes, proto: bytes, host: bytes) -> bytes:
    """The X-Forwarded-For/-Proto/-Host lines; `chain` is a trusted peer's X-Forwarded-For.
    (Positional: the router builds these once per request, or once per connection and Host.)"""
    return b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\n" % (
        forwarded_for(chain, client_ip),
        proto,
        host,
    )


def origin_form(target: bytes) -> tuple[bytes, bytes | None] | None:
    """(origin-form target, authority) of a request target; the authority only for the
    absolute form (RFC 9112 §3.2.2: it replaces Host). None when the target is unusable."""
    if target[:1] == b"/" or target == b"*":
        return target, None
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return None
    cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if not authority or b"@" in authority:
        return None
    return (path if path[:1] == b"/" else b"/" + path), authority


def drop_listed(headers: list[bytes], connection: bytes) -> list[bytes]:
    """`headers` without those a Connection header names (hop-by-hop by declaration)."""
    names = {t.strip() for t in connection.lower().split(b",")} - CONNECTION_OPTIONS
    names.discard(b"")
    if not names:
        return headers
    return [h for h in headers if h.partition(b":")[0].lower() not in names]


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

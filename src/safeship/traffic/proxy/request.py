"""Reading one client request (httptools callbacks) within the router's limits.

`RequestReader` is the parsing half of a client connection (frontend.py is the other): it
keeps the request being read, refuses it as soon as a limit is crossed (`Refused`, raised
from a callback so httptools stops at once), and hands a complete request on as the exact
bytes to send upstream. Everything accumulates in lists, so a request costs time linear in
its size however it is cut into packets. What is forwarded, and why, is in http.py.

The usual request (`SIMPLE`: a whole bodiless GET or HEAD in one read, nothing unusual in it)
is read with one regex pass instead of llhttp's five callbacks, and forwarded as the same
bytes the callbacks would have built; anything else, or anything odd, goes to llhttp.
tests/unit/test_router_request.py holds the regex to llhttp on generated requests.
"""

from __future__ import annotations

import re
from collections import deque

import httptools

from safeship.core.errors import InvalidInput
from safeship.traffic.proxy.http import (
    HOP_BY_HOP,
    HOST_BYTES,
    Payload,
    drop_listed,
    forwarding,
    origin_form,
    upstream_request,
)
from safeship.traffic.proxy.limits import Limits


class Refused(InvalidInput):
    """A request the router answers itself (`status`) and after which it reads no more.

    A client's bad request: raised inside the httptools callbacks, answered on the wire
    with its own `status` (400, 413, 414, 431, 501), never leaving the router.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# The usual request, whole: GET or HEAD of an origin-form target over HTTP/1.1, `Host: `
# first with a valid value, then header lines written exactly `Name: value` (a token, one
# space, printable ASCII words between spaces or tabs: what llhttp would hand over) and none
# of the headers the router drops or rebuilds (`HOP_BY_HOP`: framing, connection, Expect,
# forwarding claims, a second Host). Such a request is forwarded as it came, X-Forwarded-*
# added: the bytes the callbacks would have built. Groups: the method, the Host value.
_LINE = (
    rb"(?!(?i:" + b"|".join(re.escape(name) for name in sorted(HOP_BY_HOP)) + rb")[ \t]*:)"
    rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]++: (?:[!-~]++(?:[ \t]++[!-~]++)*+)?\r\n"
)
SIMPLE = re.compile(
    rb"(GET|HEAD) /[!-~]*+ HTTP/1\.1\r\nHost: ([A-Za-z0-9\-._~!$&'()*+;=:\[\]%]++)\r\n"
    rb"(?:" + _LINE + rb")*+\r\n"
)


class Budget:
    """Request-body bytes held by every connection of a router, against `Limits.buffered_total`.

    A body is admitted whole, when its head is read: its Content-Length (a chunked body: the
    body limit, the unused part given back at its end) is reserved, then read without waiting.
    A head that finds the budget spent waits in `waiting`, unread, until bodies are answered.
    Admitting whole bodies is what keeps this free of deadlock: when bytes were counted as
    they came, 100 clients uploading 1 MiB each held the 32 MiB in partial bodies, all paused,
    none able to finish until the header timeout (408) freed them.
    """

    __slots__ = ("limit", "used", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self.waiting: deque[RequestReader] = deque()

    @property
    def exhausted(self) -> bool:
        return self.used > self.limit

    def release(self, size: int) -> None:
        """`size` bytes are no longer held: admit waiting bodies while there is room."""
        self.used -= size
        waiting = self.waiting
        while waiting and self.used <= self.limit:
            waiting.popleft().admit()


class RequestReader:
    """httptools callbacks for one request at a time; subclasses act on what is read."""

    def __init__(self, limits: Limits, budget: Budget) -> None:
        self.limits = limits
        self.budget = budget
        self._simple_max = min(limits.request_line, limits.header_bytes)  # see read_simple
        self.head_limit = limits.request_line + limits.header_bytes  # a whole head, at most
        self._simple_lines = 5 * limits.header_count
        self.parser = httptools.HttpRequestParser(self)
        self.peer = b"unknown"
        self.trusted = False  # the peer is a trusted proxy: its X-Forwarded-* are kept
        self.reading = False  # a request has begun and is not complete yet
        self.in_head = False  # ... and its head is not complete yet
        self.head_bytes = 0  # bytes received while the head was incomplete (a bound)
        self.held = 0  # body bytes this connection holds (requests read, not yet answered)
        self.waiting = 0  # body bytes of the request being read, not admitted yet (Budget)
        # The X-Forwarded-* lines of the last request that claimed none, and its Host: most
        # connections send the same Host every time, so the lines are built once.
        self._forwarded_host: bytes | None = None
        self._forwarded = b""
        self._reset()

    def _reset(self) -> None:
        self._url: list[bytes] = []
        self._url_size = self._fields = self._field_bytes = 0
        self._headers: list[bytes] = []
        self._hosts: list[bytes] = []
        self._xff: bytes | None = None
        self._xfp = self._xfh = self._connection = b""
        self._proxy_connection = False  # llhttp reads it as Connection (keep-alive default)
        self._length = -1
        self._chunked = False
        self._reserved = 0  # body bytes of this request admitted to the budget
        self._expect = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._target = self._host = self._method = b""
        self._http10 = False

    def read_simple(self, data: bytes) -> bool:
        """Read `data` if it is exactly one usual request (`SIMPLE`) and hand it on; False
        (nothing done) for anything else. Only called between requests: llhttp is idle.
        Within `request_line` and `header_bytes` (the shorter) every size limit holds."""
        size = len(data)
        if size > self._simple_max:
            return False
        match = SIMPLE.fullmatch(data)
        if match is None:
            return False
        # every header line takes 5 bytes or more: only a long request can hold too many
        if size > self._simple_lines and data.count(b"\n") - 2 > self.limits.header_count:
            return False
        method, host = match.groups()
        payload = b"".join((data[:-2], self._forwarding(host), b"\r\n"))
        self.request_read(payload, method, True, False, 0)
        return True

    # what subclasses do with a request (positional arguments: called once per request)

    def continue_expected(self) -> None:
        """The head is complete and acceptable, and the client waits for a 100 Continue
        before it sends the body (HTTP/1.1, `Expect: 100-continue`, a non-empty body)."""

    def request_read(
        self, payload: Payload, method: bytes, keep_alive: bool, http10: bool, held: int
    ) -> None:
        """The whole request, rebuilt for the backend; `held` its body bytes."""

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.reading = self.in_head = True
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._url_size += len(url)
        if self._url_size > self.limits.request_line:
            raise Refused(414, f"request target over {self.limits.request_line} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        self._field_bytes += len(name) + len(value) + 4
        if self._fields > self.limits.header_count:
            raise Refused(431, f"more than {self.limits.header_count} header fields")
        if self._field_bytes > self.limits.header_bytes:
            raise Refused(431, f"header section over {self.limits.header_bytes} bytes")
        if not self.in_head:
            return  # a chunked trailer field: never forwarded, never a header
        lowered = name.lower()
        if lowered not in HOP_BY_HOP:
            self._headers.append(name + b": " + value + b"\r\n")
        else:
            self._hop_by_hop(lowered, name, value)

    def _hop_by_hop(self, lowered: bytes, name: bytes, value: bytes) -> None:
        if lowered == b"host":
            self._hosts.append(value)
        elif lowered == b"content-length":
            self._length = int(value)  # llhttp checked it is a number, and the only one
        elif lowered == b"transfer-encoding":
            self._chunked = True  # llhttp refuses a request whose last coding is not chunked
        elif lowered == b"connection":
            self._connection += b"," + value
        elif lowered == b"expect":
            self._expect = value.strip().lower() == b"100-continue"
        elif lowered == b"proxy-connection":
            self._proxy_connection = True  # dropped, but llhttp's keep-alive heeds it
        elif not self.trusted:
            return  # proxy credentials, framing, and forwarding claims of an untrusted peer
        elif lowered == b"x-forwarded-for":
            self._xff = value if self._xff is None else self._xff + b", " + value
        elif lowered == b"x-forwarded-proto":
            self._xfp = value
        elif lowered == b"x-forwarded-host":
            self._xfh = value
        elif lowered in (b"forwarded", b"x-real-ip"):
            self._headers.append(name + b": " + value + b"\r\n")

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        self._method = method = parser.get_method()
        if method == b"CONNECT" or parser.should_upgrade():
            raise Refused(501, "CONNECT and protocol upgrades are not supported")
        # llhttp keeps a request alive by default from HTTP/1.1 on: without a Connection (or
        # Proxy-Connection, which llhttp reads alike) header, that says the version, and
        # get_http_version (a formatted str) is not needed
        http10 = False
        if self._connection or self._proxy_connection or not parser.should_keep_alive():
            http10 = parser.get_http_version() == "1.0"
        self._http10 = http10
        target = self._url[0] if len(self._url) == 1 else b"".join(self._url)
        if target[:1] == b"/" and len(self._hosts) == 1:  # the usual request: origin form
            host = self._hosts[0]
            if host.translate(None, HOST_BYTES):
                raise Refused(400, "invalid Host")
            self._target, self._host = target, host
        else:
            self._target, self._host = self._resolve(target, http10=http10)
        if self._length > self.limits.body:
            raise Refused(413, f"request body over {self.limits.body} bytes")
        size = self.limits.body if self._chunked else max(self._length, 0)
        if size and self.budget.exhausted:
            self.waiting = size  # read no further until admitted (the frontend pauses)
            self.budget.waiting.append(self)
        elif size:
            self._reserve(size)
        if self._connection:
            self._headers = drop_listed(self._headers, self._connection)
        if self._expect and not http10 and self._length != 0:
            self.continue_expected()

    def _resolve(self, target: bytes, *, http10: bool) -> tuple[bytes, bytes]:
        """(origin-form target, Host): the absolute form's authority replaces Host (RFC 9112
        §3.2.2); else exactly one Host, which HTTP/1.1 requires (nginx answers 400 too)."""
        resolved = origin_form(target)
        if resolved is None:
            raise Refused(400, "unusable request target")
        target, authority = resolved
        if authority is not None:
            host = authority
        elif len(self._hosts) == 1:
            host = self._hosts[0]
        elif self._hosts:
            raise Refused(400, "more than one Host header")
        elif http10:
            host = b""
        else:
            raise Refused(400, "HTTP/1.1 request without Host")
        if host.translate(None, HOST_BYTES):
            raise Refused(400, "invalid Host")
        return target, host

    def _reserve(self, size: int) -> None:
        self._reserved = size
        self.held += size
        self.budget.used += size

    def admit(self) -> None:
        """The budget has room for the body this request waits to read."""
        size, self.waiting = self.waiting, 0
        self._reserve(size)

    def on_body(self, body: bytes) -> None:
        size = self._body_size + len(body)
        if size > self.limits.body:
            raise Refused(413, f"request body over {self.limits.body} bytes")
        self._body_size = size
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reading = False
        if self.waiting:  # it came whole in the reads before the pause: held all the same
            self.budget.waiting.remove(self)
            self.admit()
        method, host, http10, held = self._method, self._host, self._http10, self._body_size
        if self._reserved > held:  # a chunked body, reserved at the body limit
            self.held -= self._reserved - held
            self.budget.release(self._reserved - held)
        payload = upstream_request(
            method, self._target, host, self._headers, self._forwarding(host), self._body, held
        )
        self._reset()
        self.request_read(payload, method, self.parser.should_keep_alive(), http10, held)

    def _forwarding(self, host: bytes) -> bytes:
        """The X-Forwarded-* lines: built once per Host on a connection whose requests claim
        none (an untrusted peer's claims are never kept), else for each request."""
        if self._xff is not None or self._xfp or self._xfh:  # a trusted peer's claims
            return forwarding(self._xff, self.peer, self._xfp or b"http", self._xfh or host)
        if host != self._forwarded_host:
            self._forwarded_host = host
            self._forwarded = forwarding(None, self.peer, b"http", host)
        return self._forwarded

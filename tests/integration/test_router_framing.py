"""The embedded router under unusual message framing, raw bytes on both sides: request
smuggling variants, 1xx interim responses, pipelining with Expect, trailers, and a backend
that closes. Each test checks what the client got and what the backend saw."""

from __future__ import annotations

import asyncio

import pytest
from router_kit import Client, RecordingBackend, Script, Seen, ok, router_for, run, status

from safeship.core.types import Replica, TrafficSplit
from safeship.traffic.proxy.embedded import EmbeddedRouter
from safeship.traffic.proxy.timeouts import Timeouts

SMUGGLING = {
    "cl-te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    "te-cl": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    "duplicate-cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
    b"Content-Length: 6\r\n\r\nhello!",
    "obfuscated-te": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te-space-before-colon": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n"
    b"\r\n0\r\n\r\n",
    "te-chunked-not-last": b"POST / HTTP/1.1\r\nHost: a\r\n"
    b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_ambiguous_framing_is_refused_with_400_and_never_reaches_the_backend(name: str) -> None:
    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(SMUGGLING[name])
            head, _ = await client.response()
            assert status(head) == 400
            assert b"Connection: close" in head
            assert await client.closed_cleanly()
            assert backend.received == b""

    run(scenario)


def _interim_then_ok(*, split: bool, interim: bytes) -> object:
    def reply(seen: Seen) -> Script:
        if seen.target != b"/first":
            return [ok(seen.target)]
        final = ok(b"first")
        return [interim, 0.05, final] if split else [interim + final]

    return reply


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "split"])
@pytest.mark.parametrize("interim", [EARLY_HINTS, CONTINUE], ids=["103", "100"])
def test_an_interim_response_never_completes_an_exchange(split: bool, interim: bytes) -> None:
    """103 is forwarded to HTTP/1.1 clients (as HAProxy does); a backend's 100 is dropped: the
    router already has the whole body. Later clients never get someone else's response."""

    async def scenario() -> None:
        reply = _interim_then_ok(split=split, interim=interim)
        async with RecordingBackend(reply) as backend, router_for(backend) as router:  # type: ignore[arg-type]
            first = await Client.to(router)
            first.send(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
            head, body = await first.response()
            if interim is EARLY_HINTS:
                assert status(head) == 103 and b"Link: </s.css>" in head
                head, body = await first.response()
            assert (status(head), body) == (200, b"first")
            names = (b"/second", b"/third", b"/fourth")
            others = [await Client.to(router) for _ in names]
            for other, name in zip(others, names, strict=True):  # at once: pool is shared
                other.send(b"GET " + name + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            for other, name in zip(others, names, strict=True):
                assert (await other.response())[1] == name
            first.send(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
            assert (await first.response())[1] == b"/again"
            assert backend.seen[0].target == b"/first"
            assert len(backend.seen) == 5

    run(scenario)


def test_an_http10_client_gets_no_interim_response() -> None:
    async def scenario() -> None:
        reply = _interim_then_ok(split=False, interim=EARLY_HINTS)
        async with RecordingBackend(reply) as backend, router_for(backend) as router:  # type: ignore[arg-type]
            client = await Client.to(router)
            client.send(b"GET /first HTTP/1.0\r\nHost: a\r\n\r\n")
            head, body = await client.response()
            assert (status(head), body) == (200, b"first")
            assert await client.rest() == b""
            assert backend.seen[0].target == b"/first"

    run(scenario)


def test_100_continue_is_not_spliced_into_an_earlier_pipelined_response() -> None:
    """nginx and HAProxy read the next request only after answering: 100 comes after it."""

    def reply(seen: Seen) -> Script:
        if seen.target == b"/slow":
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nAA", 0.2, b"AAA"]
        return [ok(seen.body)]

    async def scenario() -> None:
        async with RecordingBackend(reply) as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            await asyncio.sleep(0.05)
            client.send(
                b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            head, body = await client.response()
            assert (status(head), body) == (200, b"AAAAA")
            head, _ = await client.response()
            assert status(head) == 100
            client.send(b"BBBBB")
            head, body = await client.response()
            assert (status(head), body) == (200, b"BBBBB")
            assert [s.body for s in backend.seen] == [b"", b"BBBBB"]
            assert b"expect" not in backend.received.lower()

    run(scenario)


def test_chunked_trailers_never_become_headers_at_the_backend() -> None:
    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(
                b"POST /t HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n0\r\nHost: evil\r\nX-Forwarded-For: 6.6.6.6\r\nX-Evil: 1\r\n\r\n"
            )
            head, body = await client.response()
            assert (status(head), body) == (200, b"/t")
            seen = backend.seen[0]
            assert seen.body == b"hello"
            assert seen.header(b"host") == [b"good"]
            assert seen.header(b"x-evil") == []
            assert b"6.6.6.6" not in backend.received and b"evil" not in backend.received

    run(scenario)


def test_a_backend_closing_its_connection_does_not_close_the_client_connection() -> None:
    def reply(seen: Seen) -> Script:
        return [ok(seen.target, b"Connection: close", b"Keep-Alive: timeout=5")]

    async def scenario() -> None:
        async with RecordingBackend(reply) as backend, router_for(backend) as router:
            client = await Client.to(router)
            for name in (b"/1", b"/2", b"/3"):
                client.send(b"GET " + name + b" HTTP/1.1\r\nHost: a\r\n\r\n")
                head, body = await client.response()
                assert body == name
                assert b"connection: close" not in head.lower()
                assert b"keep-alive" not in head.lower()
            assert backend.connections == 3  # each backend connection ended as it said

    run(scenario)


def test_a_chunked_response_and_a_close_delimited_one_reach_the_client_framed() -> None:
    def reply(seen: Seen) -> Script:
        if seen.target == b"/chunked":
            return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", 0.02,
                    b"2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"]  # fmt: skip
        return [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-", 0.02, b"close", None]

    async def scenario() -> None:
        async with RecordingBackend(reply) as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(b"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n")
            assert (await client.response())[1] == b"abcde"
            client.send(b"GET /close HTTP/1.1\r\nHost: a\r\n\r\n")
            head, body = await client.response()
            assert body == b"until-close" and b"connection: close" not in head.lower()
            client.send(b"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n")  # still open
            assert (await client.response())[1] == b"abcde"
            assert len(backend.seen) == 3

    run(scenario)


def test_a_backend_sending_two_responses_for_one_request_is_not_reused() -> None:
    def reply(seen: Seen) -> Script:
        return [ok(seen.target) + ok(b"unsolicited")]

    async def scenario() -> None:
        async with RecordingBackend(reply) as backend, router_for(backend) as router:
            for name in (b"/1", b"/2", b"/3"):
                client = await Client.to(router)
                client.send(b"GET " + name + b" HTTP/1.1\r\nHost: a\r\n\r\n")
                assert (await client.response())[1] == name
                client.send(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                assert (await client.response())[1] == b"/x"
                assert await client.rest() == b""
            assert len(backend.seen) == 6

    run(scenario)


def test_a_usual_response_is_relayed_as_sent_but_for_its_connection_line() -> None:
    """The one-pass path (clean heads): byte-exact for HTTP/1.1 clients, body in a later
    packet included; an HTTP/1.0 client still gets the router's own Connection header."""
    head = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-V: 1"

    def reply(seen: Seen) -> Script:
        return [head + b"\r\n\r\nhe", 0.02, b"llo"]

    async def scenario() -> None:
        async with RecordingBackend(reply) as backend, router_for(backend) as router:
            client = await Client.to(router)
            for _ in range(2):
                client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                got = await client.response()
                assert got == (
                    head.replace(b"\r\nConnection: keep-alive", b"") + b"\r\n\r\n",
                    b"hello",
                )
            old = await Client.to(router)
            old.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            got_head, body = await old.response()
            assert body == b"hello" and b"\r\nConnection: keep-alive\r\n" in got_head
            assert got_head.count(b"Connection") == 1
            assert backend.connections == 1  # every response left the connection reusable

    run(scenario)


def test_an_http10_client_is_known_as_such_whatever_its_proxy_connection_says() -> None:
    """llhttp reads Proxy-Connection like Connection: `keep-alive` there must not make an
    HTTP/1.0 request look like HTTP/1.1 (no chunks, no 1xx, its own Connection header)."""

    def reply(seen: Seen) -> Script:
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"]

    async def scenario() -> None:
        async with RecordingBackend(reply) as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(b"GET / HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n")
            assert await client.rest() == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhi"

    run(scenario)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 0\r\nContent-Length: 2",  # bare LF
        b"HTTP/1.1 200 OK\r\nX-A: b\rContent-Length: 2",  # bare CR
        b"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2",  # whitespace before the colon
        b"HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\nContent-Length: 2",  # obs-fold
    ],
)
def test_a_malformed_response_head_never_reaches_the_client(head: bytes) -> None:
    """A client reading bare LF would see a `Content-Length: 0` the router never saw: the
    head is refused (HAProxy and nginx answer 502 too), whole in one read or not."""

    def reply(seen: Seen) -> Script:
        return [head + b"\r\n\r\nok"]

    async def scenario() -> None:
        async with RecordingBackend(reply) as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")  # no retry
            got, _ = await client.response()
            assert status(got) == 502 and b"X-A" not in got
            assert len(backend.seen) == 1

    run(scenario)


def test_a_large_idempotent_body_is_resent_whole_on_another_backend() -> None:
    """A body over JOINED_BODY goes upstream as the chunks read (writev, never joined); when
    the first backend drops the request unanswered, the same chunks are resent to the next."""
    body = bytes(range(256)) * 4096  # 1 MiB, read in several chunks
    tries: list[int] = []

    def reply(seen: Seen) -> Script:
        tries.append(len(seen.body))
        return [None] if len(tries) == 1 else [ok(b"%d" % len(seen.body))]

    async def scenario() -> None:
        async with RecordingBackend(reply) as first, RecordingBackend(reply) as second:
            router = EmbeddedRouter(service="t", listen_port=0, timeouts=Timeouts(header=2.0))
            await router.start()
            try:
                replicas = tuple(
                    Replica(name, "v1", "127.0.0.1", backend.port)
                    for name, backend in (("a", first), ("b", second))
                )
                await router.apply(TrafficSplit(stable=replicas))
                client = await Client.to(router)
                client.send(
                    b"PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
                )
                client.send(body)
                head, got = await client.response()
                assert (status(head), got) == (200, b"%d" % len(body))
                assert [seen.body == body for seen in first.seen + second.seen] == [True, True]
            finally:
                await router.stop()

    run(scenario)

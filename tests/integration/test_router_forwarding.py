"""What the embedded router forwards, raw bytes on both sides: the target and Host (RFC 9112
§3.2), hop-by-hop and proxy headers, X-Forwarded-* with and without trusted proxies, and the
methods it refuses (CONNECT, Upgrade). Each test checks the client's answer and the backend's
view."""

from __future__ import annotations

import ipaddress

import pytest
from router_kit import Client, RecordingBackend, Seen, router_for, run, status

from safeship.traffic.proxy.limits import Limits


async def _forwarded(data: bytes, *, limits: Limits | None = None) -> tuple[bytes, Seen]:
    """(response head, the request the backend parsed) for one raw request."""
    async with RecordingBackend() as backend, router_for(backend, limits=limits) as router:
        client = await Client.to(router)
        client.send(data)
        head, _ = await client.response()
        assert len(backend.seen) == 1, head
        return head, backend.seen[0]


def test_absolute_form_authority_replaces_host() -> None:
    async def scenario() -> None:
        data = b"GET http://evil.example/x?y=1 HTTP/1.1\r\nHost: good.example\r\n\r\n"
        head, seen = await _forwarded(data)
        assert status(head) == 200
        assert seen.target == b"/x?y=1"
        assert seen.header(b"host") == [b"evil.example"]
        assert seen.header(b"x-forwarded-host") == [b"evil.example"]

    run(scenario)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
    ids=["two-hosts", "no-host", "bad-host", "bad-scheme"],
)
def test_ambiguous_or_missing_host_is_refused_like_nginx(data: bytes) -> None:
    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(data)
            head, _ = await client.response()
            assert status(head) == 400
            assert await client.closed_cleanly()
            assert backend.received == b""

    run(scenario)


def test_hop_by_hop_and_proxy_headers_are_not_forwarded() -> None:
    async def scenario() -> None:
        data = (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Secret: s\r\nConnection: keep-alive, X-Secret\r\n"
            b"Proxy-Authorization: Basic Zm9vOmJhcg==\r\nKeep-Alive: timeout=5\r\n"
            b"TE: trailers\r\nX-Kept: k\r\n\r\n"
        )
        head, seen = await _forwarded(data)
        assert status(head) == 200
        names = {n.lower() for n, _ in seen.headers}
        assert names.isdisjoint({b"x-secret", b"proxy-authorization", b"keep-alive", b"te"})
        assert seen.header(b"x-kept") == [b"k"]
        assert seen.header(b"connection") in ([], [b"keep-alive"])

    run(scenario)


SPOOFED = (
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
    b"X-Forwarded-Host: spoof\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n"
)


def test_client_sent_forwarding_headers_are_replaced_when_the_peer_is_not_trusted() -> None:
    async def scenario() -> None:
        head, seen = await _forwarded(SPOOFED)
        assert status(head) == 200
        assert seen.header(b"x-forwarded-for") == [b"127.0.0.1"]
        assert seen.header(b"x-forwarded-proto") == [b"http"]
        assert seen.header(b"x-forwarded-host") == [b"a"]
        assert seen.header(b"forwarded") == [] and seen.header(b"x-real-ip") == []

    run(scenario)


def test_a_trusted_proxy_keeps_its_forwarding_headers_and_is_appended_to() -> None:
    async def scenario() -> None:
        trusted = Limits(trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
        head, seen = await _forwarded(SPOOFED, limits=trusted)
        assert status(head) == 200
        assert seen.header(b"x-forwarded-for") == [b"6.6.6.6, 127.0.0.1"]
        assert seen.header(b"x-forwarded-proto") == [b"https"]
        assert seen.header(b"x-forwarded-host") == [b"spoof"]
        assert seen.header(b"forwarded") == [b"for=6.6.6.6"]

    run(scenario)


@pytest.mark.parametrize(
    "data",
    [
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ],
    ids=["connect", "upgrade"],
)
def test_connect_and_upgrade_get_501_and_a_clean_close(data: bytes) -> None:
    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(data)
            head, _ = await client.response()
            assert status(head) == 501 and b"X-Safeship-Router: error" in head
            assert await client.closed_cleanly()
            assert backend.received == b""

    run(scenario)


def test_an_http10_request_without_host_is_forwarded_with_an_empty_host() -> None:
    async def scenario() -> None:
        head, seen = await _forwarded(b"GET /old HTTP/1.0\r\n\r\n")
        assert status(head) == 200
        assert seen.target == b"/old" and seen.header(b"host") == [b""]

    run(scenario)

"""The client side of the router (frontend.py) against a recording transport.

Uploads take turns in the event loop (Frontend.body_read): once PASS_BODY_BYTES of request
bodies are read in one pass, every uploading connection waits for the next pass, and the
least recently read one resumes first; small requests are never held back. A read longer
than the room left in a request head is fed to llhttp in two, so a hostile head costs the
head limit, not the read.
"""

from __future__ import annotations

import asyncio

from safeship.traffic.proxy.frontend import PASS_BODY_BYTES, ClientConnection, Frontend
from safeship.traffic.proxy.limits import Limits
from safeship.traffic.proxy.stats import RouterStats
from safeship.traffic.proxy.timeouts import Timeouts

PART = PASS_BODY_BYTES * 2 // 3  # two parts in one pass go over the quota
UPLOAD = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"


class Transport:
    """What a client connection does to its socket, in one log shared by every connection."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.reading, self.written = name, log, True, b""

    def get_extra_info(self, key: str) -> object:
        return ("127.0.0.1", 40000) if key == "peername" else None

    def pause_reading(self) -> None:
        self.reading = False
        self.log.append(f"pause {self.name}")

    def resume_reading(self) -> None:
        self.reading = True
        self.log.append(f"resume {self.name}")

    def write(self, data: bytes) -> None:
        self.log.append(f"write {self.name}")
        self.written += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.log.append(f"eof {self.name}")

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        self.log.append(f"close {self.name}")


def _connections(names: str) -> tuple[Frontend, dict[str, ClientConnection], list[str]]:
    frontend = Frontend(stats=RouterStats("t"), timeouts=Timeouts(), limits=Limits())
    log: list[str] = []
    connections = {}
    for name in names:
        connection = ClientConnection(frontend)
        connection.connection_made(Transport(name, log))  # type: ignore[arg-type]
        connections[name] = connection
    return frontend, connections, log


def _transport(connection: ClientConnection) -> Transport:
    assert isinstance(connection.transport, Transport)
    return connection.transport


def _resumed(log: list[str]) -> list[str]:
    return [event for event in log if event.startswith("resume")]


def _close(connections: dict[str, ClientConnection]) -> None:
    for connection in connections.values():
        connection.connection_lost(None)


def test_uploads_over_the_pass_quota_wait_for_the_next_pass_and_small_requests_do_not() -> None:
    async def scenario() -> None:
        frontend, c, log = _connections("abcg")
        c["a"].data_received(UPLOAD + b"x" * PART)
        assert log == []  # under the quota: nobody waits
        c["b"].data_received(UPLOAD + b"x" * PART)
        assert log == ["pause a", "pause b"]  # over it: every uploader waits
        c["c"].data_received(UPLOAD + b"x" * PART)  # read in the same pass: waits too
        c["g"].data_received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert log[2] == "pause c" and "pause g" not in log
        assert all(_transport(c[n]).reading is False for n in "abc")
        log.clear()
        await asyncio.sleep(0)  # the next pass of the loop
        assert _resumed(log) == ["resume a", "resume b", "resume c"]
        assert frontend.pass_bytes == 0
        _close(c)

    asyncio.run(scenario())


def test_the_least_recently_read_upload_resumes_first() -> None:
    async def scenario() -> None:
        _, c, log = _connections("abc")
        for name in "abc":
            c[name].data_received(UPLOAD + b"x" * PART)
        await asyncio.sleep(0)
        log.clear()
        c["c"].data_received(b"x" * PART)
        c["a"].data_received(b"x" * PART)  # over the quota: b has waited longest
        await asyncio.sleep(0)
        assert _resumed(log) == ["resume b", "resume c", "resume a"]
        _close(c)

    asyncio.run(scenario())


def test_a_connection_gone_while_held_back_is_not_resumed() -> None:
    async def scenario() -> None:
        frontend, c, log = _connections("ab")
        c["a"].data_received(UPLOAD + b"x" * PART)
        c["b"].data_received(UPLOAD + b"x" * PART)
        c["a"].connection_lost(None)
        await asyncio.sleep(0)
        assert "resume a" not in log and "resume b" in log
        assert list(frontend.uploading) == [c["b"]]
        c["b"].connection_lost(None)
        assert not frontend.uploading and frontend.budget.used == 0

    asyncio.run(scenario())


class Fed:
    """The llhttp parser of a connection, recording the size of every feed."""

    def __init__(self, parser: object) -> None:
        self.parser, self.sizes = parser, list[int]()

    def feed_data(self, data: bytes | memoryview) -> None:
        self.sizes.append(len(data))
        self.parser.feed_data(data)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.parser, name)


HEAD_LIMIT = Limits().request_line + Limits().header_bytes


def _fed(data: bytes) -> tuple[Fed, bytes]:
    async def scenario() -> tuple[Fed, bytes]:
        _, c, _ = _connections("a")
        fed = Fed(c["a"].parser)
        c["a"].parser = fed  # type: ignore[assignment]
        c["a"].data_received(data)
        written = _transport(c["a"]).written
        _close(c)
        return fed, written

    return asyncio.run(scenario())


def test_a_head_without_end_is_refused_having_fed_llhttp_the_head_limit_only() -> None:
    fed, written = _fed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: " + b"z" * 300_000)
    assert written.startswith(b"HTTP/1.1 431 ")
    assert fed.sizes == [HEAD_LIMIT]  # not the 300 KB read


def test_a_read_holding_a_head_and_a_large_body_is_fed_in_two_and_read_whole() -> None:
    body = b"b" * 300_000
    head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
    fed, written = _fed(head + body)
    assert fed.sizes == [HEAD_LIMIT, len(head) + len(body) - HEAD_LIMIT]
    assert written.startswith(b"HTTP/1.1 503 ")  # read whole and proxied: no backend here

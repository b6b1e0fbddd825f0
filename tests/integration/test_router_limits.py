"""The embedded router's limits against hostile clients, raw bytes on both sides: request
line, header section, header count, body, pipelining, slow clients and clients that never
read. Each test checks what the client got and that the backend saw nothing it should not."""

from __future__ import annotations

import asyncio
import contextlib
import time

from router_kit import Client, RecordingBackend, Script, Seen, ok, router_for, run, status

from safeship.traffic.proxy.frontend import LINGER_BYTES
from safeship.traffic.proxy.limits import Limits
from safeship.traffic.proxy.timeouts import Timeouts

SMALL = Limits(request_line=256, header_bytes=1024, header_count=10, body=4096)


async def _refused(data: bytes, *, limits: Limits = SMALL) -> tuple[int, bytes, bool, bytes]:
    """(status, head, closed cleanly, what the backend received) for one raw request."""
    async with RecordingBackend() as backend, router_for(backend, limits=limits) as router:
        client = await Client.to(router)
        client.send(data)
        head, _ = await client.response()
        clean = await client.closed_cleanly()
        return status(head), head, clean, backend.received


def test_a_long_request_line_is_refused_with_414() -> None:
    async def scenario() -> None:
        code, head, clean, seen = await _refused(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n")
        assert (code, clean, seen) == (414, True, b"")
        assert b"Connection: close" in head

    run(scenario)


def test_a_request_line_just_under_the_limit_is_proxied() -> None:
    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend, limits=SMALL) as router:
            client = await Client.to(router)
            target = b"/" + b"a" * 200
            client.send(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            assert (await client.response())[1] == target
            assert backend.seen[0].target == target

    run(scenario)


def test_a_large_header_section_is_refused_with_431() -> None:
    async def scenario() -> None:
        big = b"X-Big: " + b"b" * 2000 + b"\r\n"
        code, _, clean, seen = await _refused(b"GET / HTTP/1.1\r\nHost: a\r\n" + big + b"\r\n")
        assert (code, clean, seen) == (431, True, b"")

    run(scenario)


def test_too_many_header_fields_are_refused_with_431() -> None:
    async def scenario() -> None:
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(11))
        code, _, clean, seen = await _refused(b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n")
        assert (code, clean, seen) == (431, True, b"")

    run(scenario)


def test_a_never_ending_header_stream_is_cut_at_the_limit_and_others_are_served() -> None:
    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:  # defaults
            hostile = await Client.to(router)
            hostile.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ")
            answer = asyncio.create_task(hostile.response(within=3.0))
            sent = 0
            with contextlib.suppress(ConnectionError, TimeoutError):
                while not answer.done() and sent < 4 * 1024 * 1024:
                    hostile.send(b"z" * 16384)
                    sent += 16384
                    async with asyncio.timeout(1.0):
                        await hostile.writer.drain()
                    await asyncio.sleep(0)
            head, _ = await answer
            assert status(head) == 431
            assert sent < 1024 * 1024  # refused early, not read to the end
            polite = await Client.to(router)
            polite.send(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            assert (await polite.response())[1] == b"/ok"
            assert [s.target for s in backend.seen] == [b"/ok"]

    run(scenario)


def test_a_client_that_keeps_sending_after_its_answer_is_not_read_without_end() -> None:
    """After a refusal the router drains LINGER_BYTES at most (so a client still sending
    sees its answer, not a reset), then reads nothing more until the close: draining for
    the whole linger let one client push 300 MB through the router in 2 s."""

    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:  # defaults
            hostile = await Client.to(router)
            hostile.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ")
            answer = asyncio.create_task(hostile.response(within=3.0))
            sent, started = 0, time.monotonic()
            with contextlib.suppress(ConnectionError, TimeoutError):
                while time.monotonic() - started < 1.0:
                    hostile.send(b"z" * 65536)
                    async with asyncio.timeout(0.5):
                        await hostile.writer.drain()
                    sent += 65536
                    await asyncio.sleep(0)
            head, _ = await answer
            assert status(head) == 431
            assert sent < LINGER_BYTES + 16 * 1024 * 1024  # the drain and kernel buffers
            assert backend.received == b""

    run(scenario)


def test_a_large_body_is_refused_with_413_and_a_clean_close() -> None:
    async def scenario() -> None:
        body = b"x" * 5000
        data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + body
        code, _, clean, seen = await _refused(data)
        assert (code, clean, seen) == (413, True, b"")

    run(scenario)


def test_expect_continue_with_a_body_over_the_limit_gets_413_at_once_not_100() -> None:
    """nginx answers 413 before reading such a body; the close is a FIN, never a reset."""

    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(
                b"PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: 20971520\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            head, _ = await client.response(within=0.5)
            assert status(head) == 413
            client.send(b"x" * 300_000)  # a client that sends the body anyway
            assert await client.closed_cleanly()
            assert backend.received == b""

    run(scenario)


def test_uploads_that_together_exceed_the_buffer_budget_all_complete() -> None:
    """Bodies are admitted whole: when bytes were counted as they came, eight bodies sent
    in thirds spent the 64 KiB budget in parts, every connection paused, none could finish,
    and all eight got 408 at the header timeout."""

    async def scenario() -> None:
        limits = Limits(body=32 * 1024, buffered_total=64 * 1024)
        async with RecordingBackend() as backend, router_for(backend, limits=limits) as router:
            clients = [await Client.to(router) for _ in range(8)]
            body = b"u" * 30_000
            for i, client in enumerate(clients):
                head = b"POST /%d HTTP/1.1\r\nHost: a\r\nContent-Length: 30000\r\n\r\n" % i
                client.send(head + body[:10_000])
            for part in (body[10_000:20_000], body[20_000:]):
                await asyncio.sleep(0.2)  # each part read before the next is sent
                for client in clients:
                    client.send(part)
            answers = [await client.response() for client in clients]
            assert [(status(head), got) for head, got in answers] == [
                (200, b"/%d" % i) for i in range(8)
            ]
            assert sorted(len(seen.body) for seen in backend.seen) == [30_000] * 8
            assert router._frontend.budget.used == 0  # everything given back

    run(scenario)


def test_a_body_that_finds_the_budget_spent_waits_unread_until_one_is_answered() -> None:
    answered: dict[bytes, float] = {}

    def reply(seen: Seen) -> Script:
        answered[seen.target] = time.monotonic()
        return [0.4, ok(seen.target)] if seen.target != b"/c" else [ok(seen.target)]

    async def scenario() -> None:
        limits = Limits(body=32 * 1024, buffered_total=32 * 1024)
        timeouts = Timeouts(idle=2.0, header=2.0, response=2.0)
        async with (
            RecordingBackend(reply) as backend,
            router_for(backend, limits=limits, timeouts=timeouts) as router,
        ):
            clients = {name: await Client.to(router) for name in (b"a", b"b", b"c")}
            started = time.monotonic()
            for name, client in clients.items():  # a and b take the budget; c must wait
                client.send(b"POST /%s HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n" % name)
                await asyncio.sleep(0.05)
                client.send(b"x" * 20_000)
                await asyncio.sleep(0.05)
            bodies = [(await clients[name].response())[1] for name in (b"a", b"b", b"c")]
            assert bodies == [b"/a", b"/b", b"/c"]
            assert answered[b"/c"] - started > 0.4  # after /a was answered, not before
            assert router._frontend.budget.used == 0

    run(scenario)


def test_a_chunked_upload_gives_back_what_it_did_not_use_of_its_reservation() -> None:
    """A chunked body is admitted at the body limit (its size is unknown); at its end the
    rest is given back, so a second chunked upload is not held up by the first's answer."""

    def reply(seen: Seen) -> Script:
        return [0.5, ok(seen.target)] if seen.target == b"/first" else [ok(seen.target)]

    async def scenario() -> None:
        limits = Limits(body=32 * 1024, buffered_total=32 * 1024)
        async with (
            RecordingBackend(reply) as backend,
            router_for(backend, limits=limits) as router,
        ):
            first, second = await Client.to(router), await Client.to(router)
            chunked = b"POST %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            first.send(chunked % b"/first" + b"5\r\nhello\r\n0\r\n\r\n")
            await asyncio.sleep(0.1)
            second.send(chunked % b"/second" + b"5\r\nworld\r\n0\r\n\r\n")
            assert (await second.response(within=0.3))[1] == b"/second"  # before /first's
            assert (await first.response())[1] == b"/first"
            assert [seen.body for seen in backend.seen] == [b"hello", b"world"]
            assert router._frontend.budget.used == 0

    run(scenario)


def test_pipelined_requests_behind_a_slow_one_are_not_all_read() -> None:
    """After `pipelined_bytes` read ahead the router stops reading (HAProxy and nginx too)."""

    def reply(seen: Seen) -> Script:
        return [0.4, ok(seen.target)] if seen.target == b"/slow" else [ok(seen.target)]

    async def scenario() -> None:
        limits = Limits(pipelined=4, pipelined_bytes=64 * 1024, body=2 * 1024 * 1024)
        async with RecordingBackend(reply) as backend, router_for(backend, limits=limits) as router:
            client = await Client.to(router)
            client.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            body = b"y" * (1024 * 1024)
            post = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
            sent = 0
            try:
                async with asyncio.timeout(0.3):
                    for _ in range(64):
                        client.send(post + body)
                        await client.writer.drain()
                        sent += 1
            except TimeoutError:
                pass
            assert sent < 16  # the router stopped reading; kernel buffers pushed back
            assert [s.target for s in backend.seen] == [b"/slow"]  # nothing else yet
            assert (await client.response())[1] == b"/slow"
            assert (await client.response())[1] == b"/p"  # the rest is then served in order

    run(scenario)


def test_many_small_pipelined_requests_are_answered_in_order() -> None:
    async def scenario() -> None:
        async with RecordingBackend() as backend, router_for(backend) as router:
            client = await Client.to(router)
            client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(50)))
            answers = [(await client.response())[1] for _ in range(50)]
            assert answers == [b"/%d" % i for i in range(50)]
            assert len(backend.seen) == 50

    run(scenario)


def test_a_slow_header_client_gets_408_and_others_are_not_held() -> None:
    async def scenario() -> None:
        timeouts = Timeouts(idle=2.0, header=0.3, response=2.0)
        async with RecordingBackend() as backend, router_for(backend, timeouts=timeouts) as router:
            slow = await Client.to(router)
            slow.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
            started = time.monotonic()
            polite = await Client.to(router)
            polite.send(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            assert (await polite.response())[1] == b"/ok"
            head, _ = await slow.response()
            assert status(head) == 408 and time.monotonic() - started < 1.0
            assert await slow.closed_cleanly()
            assert [s.target for s in backend.seen] == [b"/ok"]

    run(scenario)


def test_a_client_that_never_reads_is_cut_after_the_response_timeout() -> None:
    big = b"z" * (8 * 1024 * 1024)

    def reply(seen: Seen) -> Script:
        return [ok(big)]

    async def scenario() -> None:
        timeouts = Timeouts(idle=2.0, header=1.0, response=0.3)
        async with (
            RecordingBackend(reply) as backend,
            router_for(backend, timeouts=timeouts) as router,
        ):
            lazy = await Client.to(router)
            lazy.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
            await asyncio.sleep(1.0)  # never reads; the router stops relaying, then gives up
            polite = await Client.to(router)
            polite.send(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            assert len((await polite.response())[1]) == len(big)
            received = len(await lazy.rest(within=1.0))
            assert received < len(big)  # cut, not completed
            assert len(backend.seen) == 2

    run(scenario)

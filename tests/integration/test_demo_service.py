"""The demo service as a real process: routes, injected failures and latency, graceful stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from safeship.testing import free_port


def _start(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "safeship.demo.service", "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"demo service did not come up: {process.stderr.read()!r}")  # type: ignore[union-attr]


@pytest.fixture
def service(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    process, url = _start(*request.param)
    try:
        yield process, url
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("service", [("--version", "v7")], indirect=True)
def test_routes_answer_with_the_version(service: tuple[subprocess.Popen[bytes], str]) -> None:
    _, url = service
    with httpx.Client(base_url=url) as client:
        hello = client.get("/")
        assert (hello.status_code, hello.text, hello.headers["x-version"]) == (
            200,
            "hello from v7\n",
            "v7",
        )
        assert (client.get("/health").status_code, client.get("/health").text) == (200, "ok")
        assert client.get("/version").text == "v7"
        assert client.get("/nope").status_code == 404
        head = client.head("/")
        assert head.status_code == 200 and head.content == b""
        metrics = client.get("/metrics").text
    assert 'demo_requests_total{code="200"} 6.0' in metrics  # /, 2x /health, /version, HEAD /
    assert 'demo_requests_total{code="404"} 1.0' in metrics
    assert "demo_request_duration_seconds_count 7.0" in metrics


@pytest.mark.parametrize(
    "service", [("--version", "bad", "--error-ratio", "0.3", "--seed", "1")], indirect=True
)
def test_error_ratio_fails_that_share_of_hello_requests(
    service: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = service
    with httpx.Client(base_url=url) as client:
        codes = [client.get("/").status_code for _ in range(400)]
        health = [client.get("/health").status_code for _ in range(20)]
    assert 0.22 < codes.count(500) / len(codes) < 0.38
    assert set(codes) == {200, 500}
    assert set(health) == {200}  # /health never fails


@pytest.mark.parametrize("service", [("--version", "v1", "--latency-ms", "150")], indirect=True)
def test_latency_delays_hello_but_not_health(service: tuple[subprocess.Popen[bytes], str]) -> None:
    _, url = service
    with httpx.Client(base_url=url) as client:
        started = time.monotonic()
        client.get("/health")
        health_took = time.monotonic() - started
        started = time.monotonic()
        client.get("/")
        hello_took = time.monotonic() - started
    assert hello_took >= 0.15
    assert health_took < 0.1


@pytest.mark.parametrize("service", [("--version", "v1", "--latency-ms", "600")], indirect=True)
def test_sigterm_lets_the_in_flight_request_finish_then_exits_zero(
    service: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = service
    idle = httpx.Client(base_url=url)
    idle.get("/health")  # an idle keep-alive connection, which must not hold the exit up
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(httpx.get(f"{url}/", timeout=5)))
    slow.start()
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    slow.join(timeout=5)
    assert process.wait(timeout=5) == 0
    assert [(a.status_code, a.text) for a in answers] == [(200, "hello from v1\n")]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=1)
    idle.close()

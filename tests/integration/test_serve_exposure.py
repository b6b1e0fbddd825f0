"""`safeship serve` is safe by default: loopback without a word, a warning on stderr when it
listens beyond loopback without TLS, and HTTPS with --tls-cert/--tls-key."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from safeship.testing import free_port
from tests.helpers import run_cli
from tests.integration.test_serve_control_plane import wait_for

pytestmark = pytest.mark.integration


def serve(folder: Path, *args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "safeship.cli", "serve", *args]
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{folder / 'state.db'}"}
    return subprocess.Popen(argv, cwd=folder, env=env, stderr=subprocess.PIPE)


def stop(process: subprocess.Popen[bytes]) -> str:
    process.terminate()
    _, err = process.communicate(timeout=10)
    return err.decode()


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_plain_http_beyond_loopback_is_warned_about(
    tmp_path: Path, host: str, warned: bool
) -> None:
    port = free_port()
    process = serve(tmp_path, "--listen", f"{host}:{port}")
    wait_for(f"http://127.0.0.1:{port}/health/liveness", process)
    assert ("without TLS" in stop(process)) is warned


def test_tls_serves_https_without_a_warning(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    process = serve(tmp_path, "--listen", f"0.0.0.0:{port}", *tls)
    try:
        answer = get_when_up(f"https://127.0.0.1:{port}/api/v1/rollouts", cert, process)
        assert answer.status_code == 401  # HTTPS, and the API still wants a token
    finally:
        assert "without TLS" not in stop(process)


def get_when_up(url: str, cert: Path, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        assert process.poll() is None, "serve exited"
        try:
            return httpx.get(url, verify=ssl.create_default_context(cafile=cert), timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.1)


def test_a_certificate_needs_its_key(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--tls-cert", "cert.pem", env={})
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stdout + result.stderr

"""A real HTTP receiver on loopback for the delivery tests: it records every request (path,
headers, body) and answers as the test says: a status code, or `hang` (record the request,
then hold the connection until released: a receiver that got the notification while the
sender died before hearing back)."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NOTIFICATION_ID = "X-Safeship-Notification-Id"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None  # None: held (hang) and never answered

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def notification_id(self) -> str:
        return self.headers.get(NOTIFICATION_ID.lower(), "")


@dataclass
class Hook:
    url: str
    answer: int | str = 200  # a status, or "hang"
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def taken(self) -> list[Received]:
        """What the receiver has: answered 2xx, or held (it read the whole request)."""
        with self.lock:
            return [r for r in self.received if r.answered is None or 200 <= r.answered < 300]

    def wait_for(self, check: Callable[[list[Received]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if check(list(self.received)):
                    return
            time.sleep(0.02)
        raise AssertionError(f"the receiver never saw that; it saw {len(self.received)} requests")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl."""
    cert, key = folder / "hook-cert.pem", folder / "hook-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def hook_server(answer: int | str = 200, *, tls: tuple[Path, Path] | None = None) -> Iterator[Hook]:
    """A receiver on a free loopback port; HTTPS with `tls` (certificate, key)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    hook = Hook(url=f"{scheme}://127.0.0.1:{server.server_address[1]}", answer=answer)
    server.hook = hook  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.release.set()
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        hook: Hook = self.server.hook  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = hook.answer
        with hook.lock:
            code = None if answer == "hang" else int(answer)
            hook.received.append(Received(self.path, headers, body, code))
        if code is None:
            hook.release.wait()
            return  # the sender is gone: nobody to answer
        reply = json.dumps({"echo": headers.get("authorization", "")}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        return None

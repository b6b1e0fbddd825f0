"""The CLI as a client of a control plane's /api/v1: where the server is, which token, and
how its refusals come back as the same errors (and so exit codes) as on the store directly.

The server is `--server URL` or `$SAFESHIP_SERVER`. The token is `$SAFESHIP_TOKEN`, else the
first of `.safeship/token` and `~/.config/safeship/token`; like ssh with a private key, a
token file that others may read is refused. An answer's status maps back to the error class
that answers with it (core/errors.py), so `safeship pause` exits 2 for an unknown rollout
whether it asked the store or the server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from safeship.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    SafeshipError,
    StoreError,
    Unauthenticated,
)
from safeship.core.private import read_private

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="SAFESHIP_SERVER",
        help="Control plane URL (e.g. http://127.0.0.1:8470): go through its API, with"
        " $SAFESHIP_TOKEN or a 0600 token file, instead of the state database.",
        show_default=False,
    ),
]
TOKEN_ENV = "SAFESHIP_TOKEN"
TIMEOUT_S = 10.0
_BY_STATUS: dict[int, type[SafeshipError]] = {
    error.http_status: error
    for error in (InvalidInput, NotFound, Conflict, Unauthenticated, Forbidden, StoreError)
}


class ServerUnreachable(SafeshipError):
    """The control plane did not answer (wrong URL, not running, TLS refused)."""


def token_files() -> list[Path]:
    """Where a token is looked for when $SAFESHIP_TOKEN is unset, first found wins."""
    return [Path(".safeship") / "token", Path.home() / ".config" / "safeship" / "token"]


def load_token() -> str:
    if token := os.environ.get(TOKEN_ENV, "").strip():
        return token
    for path in token_files():
        if path.is_file():
            return read_private(path, what="token file", error=InvalidInput).decode()
    places = " or ".join(str(p) for p in token_files())
    raise Unauthenticated(
        f"no API token: set ${TOKEN_ENV} or write one to {places} (mode 600);"
        " an admin makes one with `safeship token create`"
    )


class ApiClient:
    """JSON over /api/v1 with the bearer token; an error answer raises its error class."""

    def __init__(self, server: str, token: str, *, timeout: float = TIMEOUT_S) -> None:
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self._call("GET", path, params=query)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, json=body)

    def post_bytes(self, path: str, content: bytes, *, headers: dict[str, str]) -> Any:
        """POST a raw body (a batch of events) with its own content headers."""
        return self._call("POST", path, content=content, headers=headers)

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            answer = self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"cannot reach the control plane {self.server}: {exc}") from exc
        if answer.is_success:
            return answer.json()
        raise _refusal(answer)


def _refusal(answer: httpx.Response) -> SafeshipError:
    try:
        body = answer.json()
    except ValueError:
        body = {}
    message = body.get("error") or body.get("detail") or answer.reason_phrase
    if answer.status_code == 429:
        wait = float(answer.headers.get("Retry-After", "1"))
        return RateLimited(str(message), retry_after=wait)
    error = _BY_STATUS.get(answer.status_code)
    if error is None:
        error = InvalidInput if answer.status_code < 500 else SafeshipError
    return error(f"{message} (HTTP {answer.status_code})")

"""HTTP for the notifiers that speak it: a client per integration from Alertmanager's
`http_config` (TLS files, redirects, timeout) and its authorization header.

Credentials are read from their file at every attempt (a rotated token is used at once),
through core/private.py (a file others may read is refused), registered as secrets so no
log line, error or stored `last_error` shows them, and never kept on the client.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import httpx

from safeship.alerting.delivery_policy import retryable_status
from safeship.alerting.notifiers import NOTIFICATION_ID_HEADER, SendFailed
from safeship.alerting.receivers import HttpConfig, TlsConfig
from safeship.core.errors import InvalidInput
from safeship.core.private import read_private
from safeship.core.secrets import SECRETS, scrub

USER_AGENT = "safeship"


def client(config: HttpConfig, *, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=_tls(config.tls_config),
        timeout=timeout,
        follow_redirects=config.follow_redirects,
        headers={"User-Agent": USER_AGENT},
    )


def _tls(tls: TlsConfig) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(f for f in (tls.ca_file, tls.cert_file, tls.key_file) if f)
        raise InvalidInput(f"tls_config: cannot load {files}: {exc}") from None
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def auth_headers(config: HttpConfig) -> dict[str, str]:
    """The Authorization header `config` asks for (none when it asks for none)."""
    if config.authorization is not None:
        auth = config.authorization
        secret = _secret(auth.credentials, auth.credentials_file, what="credentials_file")
        return {"Authorization": f"{auth.type} {secret}"}
    if config.basic_auth is not None:
        basic = config.basic_auth
        password = _secret(basic.password, basic.password_file, what="password_file")
        pair = base64.b64encode(f"{basic.username}:{password}".encode()).decode()
        SECRETS.add(pair)
        return {"Authorization": f"Basic {pair}"}
    return {}


def _secret(value: str | None, path: str | None, *, what: str) -> str:
    if path is not None:
        try:
            value = read_private(Path(path), what=what, error=SendFailed).decode()
        except OSError as exc:
            raise SendFailed(f"cannot read {what} {path}: {exc.strerror}", retryable=True) from None
    secret = value or ""
    SECRETS.add(secret)
    return secret


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    body: bytes,
    notification_id: str,
    config: HttpConfig,
) -> None:
    """POST a JSON `body`; any 2xx is delivered, anything else raises `SendFailed`."""
    headers = {
        "Content-Type": "application/json",
        NOTIFICATION_ID_HEADER: notification_id,
        **auth_headers(config),
    }
    try:
        answer = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SendFailed(scrub(f"{type(exc).__name__}: {exc}"), retryable=True) from None
    if not answer.is_success:
        excerpt = scrub(answer.text[:200])
        raise SendFailed(
            f"HTTP {answer.status_code}: {excerpt}", retryable=retryable_status(answer.status_code)
        )

"""HOST:PORT and http://HOST:PORT, parsed and written in one place, IPv6 included.

Listen addresses in configs and on the command line, replica URLs and log lines all go
through here, so `[::1]:8080` means the same thing everywhere: an IPv6 host is written in
brackets and read back without them. Errors are `ValueError`s whose message says what was
found and what was expected, ready for a pydantic validator or a CLI option.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_EXPECTED = "HOST:PORT such as 127.0.0.1:8080 or [::1]:8080"


def split_host_port(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host without brackets, port 0..65535).

    Port 0 is allowed: a listener given it picks a free port.
    """
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ipv6(host):
            raise ValueError(f"expected an IPv6 address inside [ ], found {text!r}")
    elif ":" in host and not text.startswith("["):
        raise ValueError(f"expected an IPv6 host in brackets, e.g. [::1]:8080, found {text!r}")
    elif ":" in host:  # "[::1]": brackets but no port after them
        raise ValueError(f"expected {_EXPECTED}, found {text!r}")
    if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"expected {_EXPECTED}, found {text!r}")
    return host, int(port)


def check_host_port(text: str) -> str:
    """`text` unchanged when it is a usable HOST:PORT (a pydantic AfterValidator)."""
    split_host_port(text)
    return text


def join_host_port(host: str, port: int) -> str:
    """The inverse of `split_host_port`: brackets around an IPv6 host."""
    return f"[{host}]:{port}" if _is_ipv6(host) else f"{host}:{port}"


def http_url(host: str, port: int, path: str = "") -> str:
    """http://HOST:PORT followed by `path` (which starts with / when given)."""
    return f"http://{join_host_port(host, port)}{path}"


def split_http_url(url: str) -> tuple[str, int]:
    """A plain `http://HOST:PORT` (no path, query, user or https) → (host, port)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # out of range or not a number
        port = None
    plain = parts.scheme == "http" and parts.path in ("", "/") and not parts.query
    if not plain or parts.username is not None or not parts.hostname or port is None:
        raise ValueError(f"expected http://HOST:PORT (plain HTTP, no path), found {url!r}")
    return parts.hostname, port


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """Whether a listener on `host` is reachable from this machine only (`localhost` too)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything

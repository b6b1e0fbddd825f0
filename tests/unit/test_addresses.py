"""HOST:PORT in one place (core/addresses.py): IPv4, names and bracketed IPv6."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from safeship.config.metrics import ControlPlaneConfig
from safeship.core.addresses import http_url, join_host_port, split_host_port, split_http_url
from safeship.core.types import Replica


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("localhost:0", "localhost", 0),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
        ("[::1]:8080", "::1", 8080),
        ("[2001:db8::7]:443", "2001:db8::7", 443),
        ("[fe80::1%eth0]:80", "fe80::1%eth0", 80),
    ],
)
def test_usable_addresses_are_split(text: str, host: str, port: int) -> None:
    assert split_host_port(text) == (host, port)
    assert join_host_port(host, port) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("8080", "HOST:PORT"),
        ("host:", "HOST:PORT"),
        (":80", "HOST:PORT"),
        ("h:http", "HOST:PORT"),
        ("h:70000", "HOST:PORT"),
        ("h:+80", "HOST:PORT"),
        ("h:٣", "HOST:PORT"),
        ("::1:8080", "in brackets"),
        ("[::1]", "HOST:PORT"),
        ("[nope]:80", "IPv6 address inside"),
        ("[]:80", "IPv6 address inside"),
    ],
)
def test_unusable_addresses_say_what_was_expected(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        split_host_port(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 80, "http://127.0.0.1:80"),
        ("::1", 8080, "http://[::1]:8080"),
        ("api.internal", 1, "http://api.internal:1"),
    ],
)
def test_urls_bracket_ipv6_hosts(host: str, port: int, url: str) -> None:
    assert http_url(host, port) == url
    assert Replica("r", "v1", host, port).url == url
    assert split_http_url(url) == (host, port)


@pytest.mark.parametrize(
    "url", ["https://h:1", "http://h", "http://h:1/path", "http://u@h:1", "http://[::1]:x"]
)
def test_only_plain_http_urls_split(url: str) -> None:
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        split_http_url(url)


def test_config_listen_accepts_ipv6_and_names_the_problem() -> None:
    assert ControlPlaneConfig.model_validate({"listen": "[::1]:8470"}).listen == "[::1]:8470"
    with pytest.raises(ValidationError, match=r"expected HOST:PORT .*found '8470'"):
        ControlPlaneConfig.model_validate({"listen": "8470"})

"""`safeship proxy` arguments: what is accepted, and what is refused before anything listens."""

from __future__ import annotations

import pytest

from safeship.cli.proxy import UsageError, build_split, parse_backends, parse_hostport

VERSIONS = ("stable", "canary")


def test_backends_become_replicas_labelled_with_their_version() -> None:
    replicas = parse_backends(
        "http://127.0.0.1:8001, http://localhost:8002/", option="--stable", version="v1"
    )
    assert [(r.host, r.port, r.version) for r in replicas] == [
        ("127.0.0.1", 8001, "v1"),
        ("localhost", 8002, "v1"),
    ]
    assert len({r.id for r in replicas}) == 2


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1:8001",
        "https://127.0.0.1:8001",
        "http://127.0.0.1",
        "http://h:99999",
        "http://h:8001/path",
        "http://:8001",
        "",
        " , ",
    ],
)
def test_unusable_backend_urls_are_refused_with_the_option_named(text: str) -> None:
    with pytest.raises(UsageError, match="--stable"):
        parse_backends(text, option="--stable", version="v1")


@pytest.mark.parametrize("text", ["8080", "host:", ":80", "h:http", "h:70000"])
def test_unusable_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="HOST:PORT"):
        parse_hostport(text, option="--listen")


def test_listen_address_is_split_into_host_and_port() -> None:
    assert parse_hostport("127.0.0.1:0", option="--listen") == ("127.0.0.1", 0)


def test_split_with_canary_and_weight() -> None:
    split = build_split(stable="http://a:1", canary="http://b:2", weight=10, versions=VERSIONS)
    assert [r.version for r in split.stable] == ["stable"]
    assert [r.version for r in split.canary] == ["canary"]
    assert split.canary_weight == 10


@pytest.mark.parametrize(
    ("canary", "weight", "message"),
    [(None, 5.0, "needs --canary"), ("http://b:2", 101.0, "0..100"), ("http://b:2", -1, "0..100")],
)
def test_inconsistent_weights_are_refused(canary: str | None, weight: float, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_split(stable="http://a:1", canary=canary, weight=weight, versions=VERSIONS)

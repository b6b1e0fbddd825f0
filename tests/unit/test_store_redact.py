"""Redaction of audit details and the pure hash chain, table-driven."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from safeship.store import redact
from safeship.store.chain import GENESIS_HASH, entry_hash, verify_chain
from safeship.store.records import AuditEntry, RolloutRecord


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"token": "t"}, {"token": "***"}),
        (
            {"GitHub_TOKEN": "t", "Password": 1, "passwd": "p"},
            {"GitHub_TOKEN": "***", "Password": "***", "passwd": "***"},
        ),
        (
            {"client_secret": "s", "api_key": "k", "apiKey": "k", "X-API-Key": "k"},
            {"client_secret": "***", "api_key": "***", "apiKey": "***", "X-API-Key": "***"},
        ),
        (
            {"Authorization": "Bearer x", "credentials": {"user": "u"}},
            {"Authorization": "***", "credentials": "***"},
        ),
        (
            {"outer": {"inner": [{"password": "p", "keep": 1}]}},
            {"outer": {"inner": [{"password": "***", "keep": 1}]}},
        ),
        ({"steps": ({"secret": "s"}, "plain")}, {"steps": [{"secret": "***"}, "plain"]}),
        (
            {"weight": 25, "version": "v2", "ok": True, "none": None},
            {"weight": 25, "version": "v2", "ok": True, "none": None},
        ),
    ],
)
def test_secret_named_keys_are_masked_at_any_depth(
    details: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert redact(details) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql+psycopg://app:s3cr3t@db:5432/x", "postgresql+psycopg://***@db:5432/x"),
        (
            "fetch https://bob:p%40ss@host/a and ftp://u:v@h",
            "fetch https://***@host/a and ftp://***@h",
        ),
        ("ssh://deploy@host:22", "ssh://deploy@host:22"),
        ("http://host:8080/path", "http://host:8080/path"),
        ("user:pass@notaurl", "user:pass@notaurl"),
    ],
)
def test_url_credentials_are_removed_from_strings(text: str, expected: str) -> None:
    assert redact({"url": text}) == {"url": expected}
    assert redact([text]) == [expected]


def test_redact_leaves_its_input_unchanged() -> None:
    details = {"token": "t", "nested": {"password": "p"}}
    redact(details)
    assert details == {"token": "t", "nested": {"password": "p"}}


def _chain(count: int) -> list[AuditEntry]:
    entries, prev = [], GENESIS_HASH
    for i in range(1, count + 1):
        fields: dict[str, Any] = {
            "id": i,
            "ts": 1_800_000_000.0 + i,
            "actor": "alice",
            "action": "step",
            "rollout_id": "r1",
            "service": "demo",
            "reason": f"step {i}",
            "details": {"i": i},
            "prev_hash": prev,
        }
        entries.append(AuditEntry(**fields, hash=entry_hash(**fields)))
        prev = entries[-1].hash
    return entries


def test_hash_is_stable_and_covers_every_field() -> None:
    entry = _chain(1)[0]
    base = {k: v for k, v in vars(entry).items() if k != "hash"}
    assert entry_hash(**base) == entry.hash
    for key, other in [
        ("ts", 1.5),
        ("actor", "x"),
        ("reason", "x"),
        ("details", {"i": 2}),
        ("rollout_id", None),
        ("service", None),
        ("action", "x"),
        ("id", 9),
    ]:
        assert entry_hash(**{**base, key: other}) != entry.hash, key


@pytest.mark.parametrize(
    ("tamper_index", "change", "broken_id"),
    [
        (2, {"reason": "edited"}, 3),
        (0, {"details": {"i": 99}}, 1),
        (4, {"prev_hash": GENESIS_HASH}, 5),
        (1, {"hash": "0" * 64}, 2),
    ],
)
def test_verify_chain_names_the_first_entry_that_does_not_fit(
    tamper_index: int, change: dict[str, Any], broken_id: int
) -> None:
    entries = _chain(6)
    entries[tamper_index] = replace(entries[tamper_index], **change)
    result = verify_chain(entries).result
    assert (result.ok, result.broken_id, result.checked) == (False, broken_id, broken_id)


def test_verify_chain_accepts_an_intact_chain_and_an_empty_one() -> None:
    walk = verify_chain(_chain(6))
    assert (walk.result.ok, walk.result.checked, walk.last_id) == (True, 6, 6)
    assert verify_chain([]).result.ok


def test_rollout_result_outside_the_known_outcomes_is_refused() -> None:
    with pytest.raises(ValueError, match="rolled_back"):
        RolloutRecord(
            id="r",
            service="s",
            to_version="v",
            strategy="canary",
            actor="a",
            phase="Done",
            created_at=0,
            updated_at=0,
            result="rolledback",  # type: ignore[arg-type]
        )

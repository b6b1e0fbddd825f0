"""The load generator's pure parts: outcome classification, target and bound checks, tallies."""

from __future__ import annotations

import json

import httpx
import pytest

from safeship.demo.load import LoadReport, Outcome, classify, limits_error, target_error

V2 = {"X-Version": "v2"}
ROUTER_ERROR = {"X-Safeship-Router": "error"}


@pytest.mark.parametrize(
    ("status", "headers", "error", "kind", "version"),
    [
        (200, V2, None, "ok", "v2"),
        (204, {"x-version": "v1"}, None, "ok", "v1"),
        (200, {}, None, "ok", None),
        (500, V2, None, "version_error", "v2"),
        (503, V2, None, "version_error", "v2"),  # the backend itself said 503
        (500, {}, None, "mechanics_error", None),
        (502, {}, None, "mechanics_error", None),
        (503, {}, None, "mechanics_error", None),
        (504, {}, None, "mechanics_error", None),
        (502, ROUTER_ERROR, None, "mechanics_error", None),
        (502, {**ROUTER_ERROR, **V2}, None, "mechanics_error", "v2"),
        (200, {"x-safeship-router": "Error"}, None, "mechanics_error", None),
        (500, {**V2, "X-Safeship-Router": "proxied"}, None, "mechanics_error", "v2"),
        (404, V2, None, "other", "v2"),
        (302, {}, None, "other", None),
        (None, {}, httpx.ConnectError("[Errno 111] Connection refused"), "mechanics_error", None),
        (None, {}, httpx.ReadTimeout(""), "mechanics_error", None),
        (None, {}, ConnectionResetError(104, "Connection reset by peer"), "mechanics_error", None),
    ],
)
def test_classify_blames_a_version_only_for_its_own_5xx(
    status: int | None,
    headers: dict[str, str],
    error: BaseException | None,
    kind: str,
    version: str | None,
) -> None:
    outcome = classify(status, headers, error)
    assert (outcome.kind, outcome.version) == (kind, version)


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"),
         "ConnectError: [Errno 111] Connection refused"),
        (httpx.ReadTimeout(""), "ReadTimeout"),
    ],
)  # fmt: skip
def test_mechanics_errors_are_described_by_their_exception(
    error: BaseException, detail: str
) -> None:
    assert classify(None, {}, error).detail == detail


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/", True),
        ("http://127.9.8.7/x", True),
        ("http://localhost:1/", True),
        ("http://[::1]:8080/", True),
        ("https://127.0.0.1/", True),
        ("http://10.0.0.1/", False),
        ("http://example.com/", False),
        ("http://128.0.0.1/", False),
        ("http://localhost.example.com/", False),
        ("ftp://127.0.0.1/", False),
        ("127.0.0.1:8080", False),
    ],
)
def test_only_loopback_targets_are_allowed(url: str, allowed: bool) -> None:
    assert (target_error(url) is None) is allowed


@pytest.mark.parametrize(
    ("rate", "duration", "concurrency", "complaint"),
    [
        (200, 10, 100, None),
        (2000, 3600, 1000, None),
        (2001, 10, 100, "--rate"),
        (0, 10, 100, "--rate"),
        (200, 3601, 100, "--duration"),
        (200, 0, 100, "--duration"),
        (200, 10, 0, "--concurrency"),
    ],
)
def test_rate_duration_and_concurrency_are_bounded(
    rate: float, duration: float, concurrency: int, complaint: str | None
) -> None:
    problem = limits_error(rate=rate, duration=duration, concurrency=concurrency)
    assert (problem is None) if complaint is None else (complaint in str(problem))


def test_report_tallies_outcomes_per_version_and_per_second() -> None:
    report = LoadReport(sent=7)
    outcomes = [
        (Outcome("ok", "v1", "HTTP 200"), 0, 100.0),
        (Outcome("ok", "v1", "HTTP 200"), 0, 100.1),
        (Outcome("ok", "v2", "HTTP 200"), 1, 101.2),
        (Outcome("version_error", "v2", "HTTP 500 from version v2"), 1, 101.3),
        (Outcome("mechanics_error", None, "ConnectError: refused"), 1, 101.4),
        (Outcome("other", "v1", "HTTP 404"), 1, 101.5),
        (Outcome("ok", None, "HTTP 200"), 1, 101.6),
    ]
    for outcome, second, now in outcomes:
        report.record(outcome, second=second, now=now)
    data = json.loads(report.to_json())
    assert data["sent"] == report.answered == 7
    assert data["ok"] == 4 and data["other"] == 1
    assert data["version_errors"] == {"v2": 1}
    assert data["mechanics_errors"] == 1
    assert data["mechanics_error_samples"] == ["ConnectError: refused"]
    assert data["by_version"] == {"v1": {"ok": 2, "errors": 0}, "v2": {"ok": 1, "errors": 1}}
    assert data["first_seen"] == {"v1": 100.0, "v2": 101.2}
    assert [s["second"] for s in data["per_second"]] == [0, 1]
    assert data["per_second"][1] == {
        "second": 1, "ok": 2, "version_error": 1, "mechanics_error": 1, "other": 1,
    }  # fmt: skip


def test_mechanics_error_samples_are_capped_at_ten() -> None:
    report = LoadReport()
    for i in range(25):
        report.record(Outcome("mechanics_error", None, f"failure {i}"), second=0, now=1.0)
    assert report.mechanics_errors == 25
    assert report.mechanics_error_samples == [f"failure {i}" for i in range(10)]

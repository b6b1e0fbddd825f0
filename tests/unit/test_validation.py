"""Pre-deployment validation: which results block a rollout, and how checks are written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from safeship.config.checks import Checks, CheckSpec, DiskSpaceCheck, parse_size
from safeship.health.result import ProbeResult
from safeship.rollout.validation import (
    BlockingProbe,
    CheckOutcome,
    CheckState,
    Decision,
    config_file,
    decide,
    disk_space,
    run_probes,
)
from safeship.testing import FakeClock

CHECKS: TypeAdapter[list[CheckSpec]] = TypeAdapter(Checks)


def outcome(*, ok: bool, critical: bool) -> CheckOutcome:
    return CheckOutcome("c", "command", critical, ProbeResult(ok, 0.0, ""))


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], Decision.PROCEED),
        ([(True, True), (True, False)], Decision.PROCEED),
        ([(True, True), (False, False)], Decision.PROCEED_WITH_WARNINGS),
        ([(False, False), (False, False)], Decision.PROCEED_WITH_WARNINGS),
        ([(False, True), (True, False)], Decision.BLOCKED),
        ([(False, True), (False, False)], Decision.BLOCKED),
    ],
)
def test_only_a_failed_critical_check_blocks_the_rollout(
    results: list[tuple[bool, bool]], expected: Decision
) -> None:
    assert decide([outcome(ok=ok, critical=crit) for ok, crit in results]) is expected


@pytest.mark.parametrize(
    ("ok", "critical", "state"),
    [
        (True, True, CheckState.PASSED),
        (True, False, CheckState.PASSED),
        (False, True, CheckState.FAILED),
        (False, False, CheckState.WARNING),
    ],
)
def test_check_state_follows_result_and_criticality(
    ok: bool, critical: bool, state: CheckState
) -> None:
    assert outcome(ok=ok, critical=critical).state is state


class Flaky:
    """Fails the first `failures` attempts, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self) -> ProbeResult:
        self.calls += 1
        return ProbeResult(self.calls > self.failures, 0.0, f"call {self.calls}")


@pytest.mark.parametrize(
    ("failures", "retries", "ok", "calls"),
    [(0, 0, True, 1), (1, 0, False, 1), (1, 1, True, 2), (2, 1, False, 2), (2, 3, True, 3)],
)
def test_retries_give_a_flaky_check_more_attempts(
    failures: int, retries: int, ok: bool, calls: int
) -> None:
    flaky = Flaky(failures)
    probe = BlockingProbe(flaky, timeout=5, retries=retries, clock=FakeClock())
    result = asyncio.run(probe.probe())
    assert (result.ok, flaky.calls) == (ok, calls)


def test_a_retried_non_critical_failure_is_a_warning_not_a_block() -> None:
    spec = DiskSpaceCheck(name="disk", kind="diskSpace", min_free=1, retries=2, critical=False)
    probe = BlockingProbe(Flaky(5), timeout=5, retries=2, clock=FakeClock())
    report = asyncio.run(run_probes([(spec, probe)]))
    assert report.decision is Decision.PROCEED_WITH_WARNINGS
    assert report.outcomes[0].result.detail == "call 3 (attempt 3 of 3)"


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), (512, 512), ("10B", 10), ("2KB", 2000), ("1.5MiB", 1572864), ("3 GiB", 3 * 2**30)],
)
def test_sizes_read_as_written(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-1GB", "1 parsec"])
def test_unreadable_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)


def test_checks_load_by_kind_with_defaults() -> None:
    loaded = CHECKS.validate_python(
        [
            {"name": "tests", "kind": "command", "command": ["true"], "timeout": "2m"},
            {"name": "db", "kind": "http", "url": "http://127.0.0.1:1/", "critical": False},
            {"name": "disk", "kind": "diskSpace", "minFree": "1GiB", "retries": 2},
            {"name": "conf", "kind": "configFile", "path": "app.toml"},
        ]
    )
    assert [(c.kind, c.timeout, c.retries, c.critical) for c in loaded] == [
        ("command", 120.0, 0, True),
        ("http", 30.0, 0, False),
        ("diskSpace", 30.0, 2, True),
        ("configFile", 30.0, 0, True),
    ]


@pytest.mark.parametrize(
    "checks",
    [
        [{"name": "x", "kind": "ping"}],
        [{"name": "x", "kind": "command", "command": []}],
        [{"name": "x", "kind": "http", "url": "ftp://a"}],
        [{"name": "x", "kind": "configFile", "path": "a", "format": "ini"}],
        [{"name": "x", "kind": "diskSpace", "minFree": "1G", "timeout": "0s"}],
        [{"name": "x", "kind": "configFile", "path": "a"}] * 2,
    ],
)
def test_malformed_checks_are_refused(checks: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        CHECKS.validate_python(checks)


@pytest.mark.parametrize(
    ("name", "text", "ok"),
    [
        ("a.json", '{"a": 1}', True),
        ("a.json", '{"a": ', False),
        ("a.yaml", "a: [1, 2]", True),
        ("a.yml", "a: [1, 2", False),
        ("a.toml", 'a = "x"', True),
        ("a.toml", "a = ", False),
    ],
)
def test_config_files_are_parsed_by_extension(
    tmp_path: Path, name: str, text: str, ok: bool
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert config_file(path, fmt="auto").ok is ok


def test_a_missing_config_file_fails_and_says_so(tmp_path: Path) -> None:
    result = config_file(tmp_path / "nope.yaml", fmt="yaml")
    assert not result.ok
    assert "cannot read" in result.detail


def test_disk_space_compares_free_bytes_with_the_minimum(tmp_path: Path) -> None:
    assert disk_space(tmp_path, min_free=1).ok
    assert not disk_space(tmp_path, min_free=2**62).ok
    assert not disk_space(tmp_path / "missing", min_free=1).ok

"""Errors meant for people: each says what is wrong, where, and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


class SafeshipError(Exception):
    """Base of every error safeship raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, located as precisely as the YAML allows."""

    file: str
    line: int | None
    key: str
    found: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" key '{self.key}'" if self.key else ""
        return f"{where}:{key} found {self.found}, expected {self.expected}"


class ConfigError(SafeshipError):
    """A config that cannot be used; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class DeployError(SafeshipError):
    """A fleet or router action that failed; the message says which and why."""

"""The one error hierarchy: every error safeship raises on purpose, and what it means outside.

Modelled on httpx `_exceptions.py`: one base, a few categories, and each category says ONCE
how it leaves the process, as an exit code for the CLI (DESIGN §4: 0 done, 1 rolled back,
2 invalid input, 3 could not run) and as an HTTP status for the server. Callers catch a
category, never a module's private error, and nobody picks a code by hand.

    SafeshipError              could not run                      exit 3, HTTP 500
    ├── InvalidInput           what was given cannot be used      exit 2, HTTP 400
    │   ├── ConfigError        a config file, with file:line:key  exit 2, HTTP 422
    │   ├── UsageError         a command-line value               exit 2, HTTP 400
    │   ├── TemplateError      an alert template                  exit 2, HTTP 400
    │   ├── NotFound           no such rollout, token, ...        exit 2, HTTP 404
    │   └── Conflict           not now: the state does not allow  exit 2, HTTP 409
    ├── Unauthenticated        no token, or one we do not know    exit 2, HTTP 401
    │   └── Forbidden          a token whose role is too low      exit 2, HTTP 403
    ├── RateLimited            too many failed attempts; wait     exit 3, HTTP 429
    ├── QueryError             a query that cannot be answered    exit 2, HTTP 422
    ├── StoreError             the state database is unusable     exit 3, HTTP 503
    │   └── NotLeader          another controller holds the lease exit 3, HTTP 503
    └── DeployError            a fleet or router action failed    exit 3, HTTP 502

Domain errors (PromQL, exposition, series notation, ...) stay in their module as
subclasses of the category they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """The CLI's exit codes (DESIGN §4), the only place they are spelled."""

    OK = 0  # done, promoted
    FAILED = 1  # rolled back or aborted
    INVALID = 2  # invalid input; nothing was changed
    UNAVAILABLE = 3  # could not run: unreachable, internal error


class SafeshipError(Exception):
    """Base of every error safeship raises on purpose; uncategorised means "could not run"."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNAVAILABLE
    http_status: ClassVar[int] = 500


class InvalidInput(SafeshipError):
    """What a person gave us cannot be used; nothing was changed, fixing the input helps."""

    exit_code: ClassVar[ExitCode] = ExitCode.INVALID
    http_status: ClassVar[int] = 400


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


class ConfigError(InvalidInput):
    """A config that cannot be used; carries every issue found, not just the first."""

    http_status: ClassVar[int] = 422

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class UsageError(InvalidInput):
    """A command-line value that cannot be used; the message says which and why."""


class TemplateError(InvalidInput):
    """A template that cannot be expanded; the message says what was found."""


class NotFound(InvalidInput):
    """What a request names does not exist (a rollout id, a token name)."""

    http_status: ClassVar[int] = 404


class Conflict(InvalidInput):
    """A valid request the current state refuses (pausing a finished rollout, a taken name)."""

    http_status: ClassVar[int] = 409


class Unauthenticated(SafeshipError):
    """No token, or one that is unknown or revoked: the caller must present a valid one."""

    exit_code: ClassVar[ExitCode] = ExitCode.INVALID
    http_status: ClassVar[int] = 401


class Forbidden(Unauthenticated):
    """A valid token whose role does not allow the action; the message names the role needed."""

    http_status: ClassVar[int] = 403


class RateLimited(SafeshipError):
    """Too many failed attempts from one client; `retry_after` says how long to wait."""

    http_status: ClassVar[int] = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class QueryError(SafeshipError):
    """A query that cannot be parsed or answered (a bad query is the caller's input)."""

    exit_code: ClassVar[ExitCode] = ExitCode.INVALID
    http_status: ClassVar[int] = 422


class StoreError(SafeshipError):
    """The state database is unreachable, unsupported or not at the expected schema."""

    http_status: ClassVar[int] = 503


class DeployError(SafeshipError):
    """A fleet or router action that failed; the message says which and why."""

    http_status: ClassVar[int] = 502


class NotLeader(StoreError):
    """This controller does not hold the lease (any more): it must not act.

    Raised when a lease is held by someone else, and inside the persist transaction when
    the lease's fencing token is no longer the one this controller was given, so an old
    leader that was paused and resumed cannot write, hence cannot act.
    """

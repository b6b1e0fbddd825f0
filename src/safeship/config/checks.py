"""Pre-deployment checks as the user writes them: the `validation:` list of a rollout spec.

Each item has a `kind` (command, http, diskSpace, configFile) and the shared knobs
`timeout`, `retries` and `critical`. rollout/validation.py turns these into probes, runs
them before a rollout changes anything, and decides whether the rollout may start.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field
from pydantic.alias_generators import to_camel

from safeship.core.durations import parse_duration

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNIT |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str | int | float) -> int:
    """Bytes in `text` ("500MB", "2GiB", or a bare number of bytes)."""
    if isinstance(text, bool):
        raise ValueError(f"expected a size like '500MB' or '2GiB', found {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"expected a non-negative size, found {text}")
        return int(text)
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"expected a size like '500MB' or '2GiB', found {text!r}")
    return int(float(match.group(1)) * _UNIT[(match.group(2) or "").lower()])


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]


class _Check(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    name: Annotated[str, Field(min_length=1)]
    timeout: Duration = 30.0  # per attempt
    retries: Annotated[int, Field(ge=0, le=10)] = 0  # extra attempts after a failure
    critical: bool = True  # a failed critical check stops the rollout; others only warn


class CommandCheck(_Check):
    """Run a command (e.g. the test suite); it passes when it exits 0."""

    kind: Literal["command"]
    command: Annotated[list[str], Field(min_length=1)]


class HttpCheck(_Check):
    """GET a URL (e.g. a dependency's health endpoint); it passes on an expected status."""

    kind: Literal["http"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    expect_status: list[int] | None = None  # None: any 2xx or 3xx


class DiskSpaceCheck(_Check):
    """Free space on the filesystem holding `path` (on every target) is at least `min_free`."""

    kind: Literal["diskSpace"]
    path: str = "."
    min_free: ByteSize


class ConfigFileCheck(_Check):
    """A configuration file exists and parses as JSON, YAML or TOML."""

    kind: Literal["configFile"]
    path: Annotated[str, Field(min_length=1)]
    format: Literal["auto", "json", "yaml", "toml"] = "auto"  # auto: from the file extension


CheckSpec = Annotated[
    CommandCheck | HttpCheck | DiskSpaceCheck | ConfigFileCheck, Discriminator("kind")
]


def _unique_names(checks: list[CheckSpec]) -> list[CheckSpec]:
    names = [c.name for c in checks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"expected unique check names, found {', '.join(duplicates)} twice")
    return checks


Checks = Annotated[list[CheckSpec], AfterValidator(_unique_names)]

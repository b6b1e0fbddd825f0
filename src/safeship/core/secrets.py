"""Secrets: values that are never stored, logged or shown.

A spec holds a secret two ways: in an entry whose name looks secret (`*TOKEN*`,
`*PASSWORD*`, `*SECRET*`, `*KEY*`, credentials, authorization), or as a reference,
`${NAME}` or `{secretRef: NAME}`, resolved from the environment of the process that starts
the replicas. References are safe to store; the values they resolve to, and every literal
secret, are registered in `SECRETS` when a spec is loaded, and `scrub` masks them wherever
text leaves the process: the store (rollouts, statuses, audit), logs, CLI output and API
answers. `redact` masks secret-named entries of a mapping and the `user:pass@` of URLs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from safeship.core.errors import ConfigError, ConfigIssue

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words; refuse to call them secret
_SECRET_KEY = re.compile(
    r"token|passw(or)?d|secret|api[_-]?key|(^|_)key($|_)|authorization|credential", re.I
)
_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# scheme://user:password@host — the userinfo carries the credential, the rest stays readable.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@")


class Secrets:
    """The secret values this process knows; `scrub` masks each wherever it appears."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) >= MIN_SECRET_LENGTH and value not in self._values:
            self._values.add(value)
            longest_first = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in longest_first))

    def scrub(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)


SECRETS = Secrets()  # the process's registry: one process, one set of known secrets


def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def reference(value: str) -> str | None:
    """The environment variable `${NAME}` refers to, or None for a literal value."""
    found = _REFERENCE.match(value)
    return found.group(1) if found else None


def shown(value: str) -> str:
    """How a secret value may be written down: a reference as it is, a literal as MASK."""
    return value if reference(value) is not None else MASK


def resolve_env(
    env: Mapping[str, str], *, environ: Mapping[str, str], where: str = "service.env"
) -> dict[str, str]:
    """`env` with every `${NAME}` replaced by its value; an unset one is a config error."""
    resolved, issues = {}, []
    for key, value in env.items():
        name = reference(value)
        if name is None:
            resolved[key] = value
        elif name in environ:
            resolved[key] = environ[name]
        else:
            issues.append(ConfigIssue("", None, f"{where}.{key}", value, f"${name} set"))
    if issues:
        raise ConfigError(issues)
    return resolved


def resolve_secret(value: str, *, environ: Mapping[str, str]) -> str:
    """A secret's value: a `${NAME}` reference read from the environment, else the literal;
    either way remembered as secret from now on."""
    resolved = resolve_env({"secret": value}, environ=environ, where="value")["secret"]
    SECRETS.add(resolved)
    return resolved


def register_env(env: Mapping[str, str], *, environ: Mapping[str, str]) -> None:
    """Remember the secret values of `env`: secret-named literals, and what references hold."""
    resolved = resolve_env(env, environ=environ)
    for key, value in env.items():
        if reference(value) is not None or is_secret_key(key):
            SECRETS.add(resolved[key])


def scrub(text: str) -> str:
    """`text` with every known secret and any URL credential masked."""
    return SECRETS.scrub(_URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text))


def redact(value: Any) -> Any:
    """A copy of `value` with secret-named entries masked (references kept: they reveal
    nothing and are needed to start the service again) and strings scrubbed, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _entry(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def _entry(key: str, value: Any) -> Any:
    if not is_secret_key(key):
        return redact(value)
    return shown(value) if isinstance(value, str) else MASK


class ScrubbingFilter(logging.Filter):
    """A log filter that masks known secrets in every record it lets through."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

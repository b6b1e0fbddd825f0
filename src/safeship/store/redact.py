"""Secrets never reach the store: audit details pass through `redact` before hashing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(r"token|password|passwd|secret|api[_-]?key|authorization|credential", re.I)
# scheme://user:password@host — the userinfo carries the credential, the rest stays readable.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@")


def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    """`text` with any `user:pass@` of URL-looking substrings masked."""
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def redact(value: Any) -> Any:
    """A copy of `value` with secret-named keys masked and URL credentials removed, recursively."""
    if isinstance(value, Mapping):
        return {str(k): MASK if is_secret_key(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value

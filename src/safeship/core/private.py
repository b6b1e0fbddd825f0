"""Files that hold a secret (the audit key, an API token): readable by their owner only,
refused otherwise, as ssh refuses a private key others can read."""

from __future__ import annotations

import stat
from pathlib import Path

from safeship.core.errors import SafeshipError


def read_private(path: Path, *, what: str, error: type[SafeshipError]) -> bytes:
    """The content of `path` (stripped); `error` saying how to fix it when others may read it."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise error(
            f"{what} {path} is readable by others (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}`"
        )
    return path.read_bytes().strip()

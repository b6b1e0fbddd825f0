"""The audit key: it signs checkpoints of the audit chain, and it never lives in the database.

Someone who can write to the database (but not read this key) can neither forge a checkpoint
nor hide a deleted tail: the newest checkpoint is also kept in a head file beside the key.

Where the key comes from, first found wins: `$SAFESHIP_AUDIT_KEY` (the key itself), the file
named by `$SAFESHIP_AUDIT_KEY_FILE`, else `audit.key` beside the SQLite file (`./.safeship/`
for PostgreSQL), created on first use with 0600 rights. A key file that others may read is
refused, as ssh refuses such a private key.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from safeship.core.errors import StoreError
from safeship.core.private import read_private
from safeship.store.records import Checkpoint

KEY_ENV, KEY_FILE_ENV = "SAFESHIP_AUDIT_KEY", "SAFESHIP_AUDIT_KEY_FILE"
KEY_FILE_NAME = "audit.key"


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    folder: Path  # where head files go

    def head_file(self, genesis_hash: str) -> Path:
        """One head file per chain, named by its first entry's hash (unique per database)."""
        return self.folder / f"audit-head-{genesis_hash[:16]}.json"


def key_path(url: str) -> Path:
    """The key file for the database at `url` when no environment variable names one."""
    if named := os.environ.get(KEY_FILE_ENV):
        return Path(named).expanduser()
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        return Path(database).expanduser().parent / KEY_FILE_NAME
    return Path(".safeship") / KEY_FILE_NAME


def load_key(url: str, *, create: bool) -> AuditKey | None:
    """The audit key for `url`; with `create`, a new one is made if none exists yet."""
    path = key_path(url)
    if inline := os.environ.get(KEY_ENV):
        return AuditKey(inline.encode(), path.parent)
    try:
        return AuditKey(read_private(path, what="audit key", error=StoreError), path.parent)
    except FileNotFoundError:
        if not create:
            return None
    return AuditKey(_create(path), path.parent)


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return read_private(path, what="audit key", error=StoreError)
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
    return secret


def write_head(key: AuditKey, genesis_hash: str, checkpoint: Checkpoint) -> None:
    """Keep the newest checkpoint outside the database too (atomic replace)."""
    path = key.head_file(genesis_hash)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(checkpoint.as_dict()))
    os.replace(temporary, path)


def read_head(key: AuditKey, genesis_hash: str) -> Checkpoint | None:
    """The checkpoint last written beside the key for this chain; None if there is none."""
    try:
        fields = json.loads(key.head_file(genesis_hash).read_text())
        return Checkpoint(**fields)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise StoreError(
            f"unreadable audit head file {key.head_file(genesis_hash)}: {exc}"
        ) from exc

"""API tokens: who may call /api/v1, with which role, stored so a database leak leaks no token.

A token reads `safeship_<id>_<secret>`: `id` (12 hex digits) is the row's key, so a request
costs one primary-key lookup, never a scan; `secret` is 32 random bytes. Only a keyed hash of
the secret is stored (HMAC-SHA256, keyed by the id). A fast hash is enough here, on purpose:
slow hashes (argon2, scrypt) protect low-entropy passwords from guessing, but 256 random bits
cannot be guessed from their hash at any speed, while a 50 ms hash on every request would
cost CPU and hand an attacker a way to burn it. The token is shown once, at creation.

Roles are ordered: `viewer` reads, `operator` also acts on rollouts, `admin` also manages
tokens. `ingest` stands apart: it may only send service events (POST /api/v1/analytics/events),
for the many machines that emit them, and samples (POST /api/v1/write, remote write);
operators and admins may send both too.
Plain functions over a `Connection`, composed by `Transaction`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from safeship.core.errors import Conflict, InvalidInput, NotFound
from safeship.store.schema import api_tokens

PREFIX = "safeship"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
TOUCH_EVERY_S = 60.0  # last_used_at is kept to the minute: no write on every request


class Role(StrEnum):
    """What a token may do: viewer < operator < admin, each including the one before;
    ingest only sends (events, samples), which operators and admins may do too."""

    viewer = "viewer"
    operator = "operator"
    admin = "admin"
    ingest = "ingest"

    def allows(self, needed: Role) -> bool:
        if Role.ingest in (self, needed):
            return self is needed or self in (Role.operator, Role.admin)
        order = [Role.viewer, Role.operator, Role.admin]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, kw_only=True)
class TokenRecord:
    """A token as listed: never its secret, nor the hash of it."""

    id: str
    name: str
    role: Role
    created_at: float
    created_by: str
    last_used_at: float | None = None


def check_name(name: str) -> str:
    """A token name is the actor in the audit log: a short plain word, no spaces."""
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"token name {name!r} must be 1-128 letters, digits, '.', '_', '@' or '-',"
            " starting with a letter or digit"
        )
    return name


def _hash(token_id: str, secret: str) -> str:
    return hmac.new(token_id.encode(), secret.encode(), hashlib.sha256).hexdigest()


def split(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def create(
    conn: Connection, *, name: str, role: Role, created_by: str, now: float
) -> tuple[TokenRecord, str]:
    """A new token row and the token itself, which exists nowhere else once shown."""
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = TokenRecord(
        id=token_id, name=check_name(name), role=role, created_at=now, created_by=created_by
    )
    if find_by_name(conn, name) is not None:
        raise Conflict(f"a token named {name!r} exists; revoke it first or pick another name")
    # A concurrent create of the same name fails on the unique index (Store turns it into 409).
    values = {**_to_row(record), "hash": _hash(token_id, secret)}
    conn.execute(sa.insert(api_tokens).values(**values))
    return record, f"{PREFIX}_{token_id}_{secret}"


def find_by_name(conn: Connection, name: str) -> TokenRecord | None:
    row = conn.execute(sa.select(api_tokens).where(api_tokens.c.name == name)).first()
    return _to_record(row) if row is not None else None


def listing(conn: Connection) -> list[TokenRecord]:
    rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.name))
    return [_to_record(row) for row in rows]


def revoke(conn: Connection, name: str) -> TokenRecord:
    """Delete the token named `name`; it stops working at once."""
    found = find_by_name(conn, name)
    if found is None:
        raise NotFound(f"no token named {name!r}; `safeship token list` shows them")
    conn.execute(sa.delete(api_tokens).where(api_tokens.c.id == found.id))
    return found


def verify(conn: Connection, token: str) -> TokenRecord | None:
    """The token's record if `token` is one of ours and not revoked, else None."""
    parts = split(token)
    if parts is None:
        return None
    row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == parts[0])).first()
    if row is None or not hmac.compare_digest(row.hash, _hash(*parts)):
        return None
    return _to_record(row)


def touch(conn: Connection, record: TokenRecord, *, now: float) -> None:
    """Note the token was used, at most once per `TOUCH_EVERY_S`."""
    if needs_touch(record, now=now):
        query = sa.update(api_tokens).where(api_tokens.c.id == record.id)
        conn.execute(query.values(last_used_at=now))


def needs_touch(record: TokenRecord, *, now: float) -> bool:
    return record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY_S


def _to_row(record: TokenRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role.value,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "last_used_at": record.last_used_at,
    }


def _to_record(row: sa.Row[object]) -> TokenRecord:
    values = row._asdict()
    values.pop("hash")
    return TokenRecord(**{**values, "role": Role(values["role"])})

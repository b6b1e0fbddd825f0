"""Who is calling /api/v1, and may they: bearer tokens, roles, and a brake on guessing.

Every /api/v1 endpoint depends on `Authenticator.require(role)`: no token answers 401, a
token whose role is too low 403 (core/errors.py). The caller becomes a `Principal` named
after its token, and that name, never a field a client sends, is the actor in the audit log.

Failed authentication is rate-limited per client address with a token bucket
(`FailureLimiter`): each unknown token takes one unit, units come back at a steady rate, and
an empty bucket answers 429 with Retry-After before any token is even checked. The address
is the TCP peer's: behind a reverse proxy every client shares the proxy's bucket.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from safeship.core.clock import Clock
from safeship.core.errors import Forbidden, RateLimited, Unauthenticated
from safeship.store.repository import Store
from safeship.store.tokens import Role

MAX_TRACKED = 10_000  # addresses kept at most; full buckets are dropped first

bearer = HTTPBearer(auto_error=False, description="`safeship token create` makes one.")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's name (the audit actor) and its role."""

    name: str
    role: Role


class FailureLimiter:
    """A token bucket per client address, spent by failed authentications only."""

    def __init__(self, *, clock: Clock, burst: int = 10, per_second: float = 0.2) -> None:
        self._clock, self._burst, self._rate = clock, float(burst), per_second
        self._buckets: dict[str, tuple[float, float]] = {}  # address: (units, at)
        self._lock = threading.Lock()  # sync endpoints run on a thread pool

    def check(self, address: str) -> None:
        """Raise RateLimited while `address` has no attempt left."""
        with self._lock:
            units = self._units(address)
        if units < 1:
            wait = math.ceil((1 - units) / self._rate)
            raise RateLimited(
                f"too many failed authentications from {address}; retry in {wait}s",
                retry_after=wait,
            )

    def failed(self, address: str) -> None:
        with self._lock:
            self._buckets[address] = (self._units(address) - 1, self._clock.now())
            if len(self._buckets) > MAX_TRACKED:
                self._forget_full()

    def _units(self, address: str) -> float:
        units, at = self._buckets.get(address, (self._burst, self._clock.now()))
        return min(self._burst, units + (self._clock.now() - at) * self._rate)

    def _forget_full(self) -> None:
        for address in [a for a in self._buckets if self._units(a) >= self._burst]:
            del self._buckets[address]


class Authenticator:
    """Turns a request's bearer token into a `Principal`, or refuses it."""

    def __init__(self, store: Store, limiter: FailureLimiter) -> None:
        self._store, self._limiter = store, limiter

    def require(self, needed: Role) -> Callable[..., Principal]:
        """A FastAPI dependency: the caller, if its token has at least the `needed` role."""

        def dependency(
            request: Request,
            credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
        ) -> Principal:
            caller = self.authenticate(request, credentials)
            if not caller.role.allows(needed):
                raise Forbidden(f"token {caller.name!r} is {caller.role}; this needs {needed}")
            return caller

        return dependency

    def authenticate(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None
    ) -> Principal:
        if credentials is None:
            raise Unauthenticated("this needs a token: send `Authorization: Bearer <token>`")
        address = request.client.host if request.client else "unknown"
        self._limiter.check(address)
        record = self._store.authenticate(credentials.credentials)
        if record is None:
            self._limiter.failed(address)
            raise Unauthenticated("unknown or revoked token")
        return Principal(record.name, record.role)

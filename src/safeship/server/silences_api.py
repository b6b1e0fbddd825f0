"""/api/v1/silences: list (viewer), add and expire (operator), over the state store.

HTTP only: the rules are alerting/silences.py's, the storing and auditing
alerting/silence_book.py's. The audit actor is the caller's token name; `author` (default
the token name) is who the silence says created it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, status

from safeship.alerting.silence_book import SilenceBook
from safeship.server.auth import Authenticator, Principal
from safeship.server.models import ErrorBody, SilenceCreate, SilenceView
from safeship.store.repository import Store
from safeship.store.tokens import Role

PREFIX = "/api/v1"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 422, 429)
}


def silences_api(store: Store, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["silences"], responses=_ERRORS)
    viewer = Depends(auth.require(Role.viewer))
    operator = Depends(auth.require(Role.operator))
    book = SilenceBook(store)

    @router.get("/silences")
    def list_silences(_: Principal = viewer) -> list[SilenceView]:
        """Every silence, oldest start first, with its state now."""
        now = store.clock.now()
        return [SilenceView.of(s, now=now) for s in book.list()]

    @router.post(
        "/silences",
        status_code=status.HTTP_201_CREATED,
        responses={400: {"model": ErrorBody}},
    )
    def add_silence(body: SilenceCreate, caller: Principal = operator) -> SilenceView:
        """A silence from now for `duration_s`; audited with the caller as actor."""
        made = book.add(
            body.matchers,
            duration_s=body.duration_s,
            comment=body.comment,
            created_by=body.author or caller.name,
            actor=caller.name,
        )
        return SilenceView.of(made, now=store.clock.now())

    @router.delete(
        "/silences/{silence_id}", responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}}
    )
    def expire_silence(silence_id: str, caller: Principal = operator) -> SilenceView:
        """End the silence now; audited. 409 if it has expired already."""
        return SilenceView.of(book.expire(silence_id, actor=caller.name), now=store.clock.now())

    return router

"""How /api/v1 refuses: one JSON shape (`ErrorBody`) for every error, with the headers that
tell a client what to do next.

Errors of the hierarchy (core/errors.py) answer with their category's status; server/app.py
handles most of them. Here: 401 says `WWW-Authenticate: Bearer`, 429 says `Retry-After`, and
what FastAPI and Starlette raise themselves under /api/v1 (a body that does not parse or
validate, an unknown path, a method a path does not take) gets the same body instead of
their own `{"detail": ...}`, so the OpenAPI schema's error model holds for every answer.
Elsewhere (the Prometheus-compatible API) their default answers stay.
"""

from __future__ import annotations

import math
import types
import typing

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import Match

from safeship.core.errors import RateLimited, Unauthenticated
from safeship.core.secrets import scrub
from safeship.server.models import ErrorBody

PREFIX = "/api/v1"
ERROR_TYPES = {
    400: "bad_data",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "bad_data",
    429: "too_many_requests",
}


def refusal(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(errorType=ERROR_TYPES.get(status, "internal"), error=scrub(message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def refuse_unknown_query(request: Request) -> None:
    """A misspelt query parameter is refused (422), never silently ignored: `?stauts=open`
    would otherwise list every incident as if no filter had been asked for."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _declared(route.dependant)
    unknown = sorted(set(request.query_params) - set(declared))
    if unknown:
        problem = {"msg": "unknown query parameter", "type": "extra_forbidden"}
        raise RequestValidationError([{**problem, "loc": ("query", n)} for n in unknown])
    # `?service=a&service=b` on a one-value filter would silently keep only `b`
    repeated = sorted(
        name
        for name, many in declared.items()
        if not many and len(request.query_params.getlist(name)) > 1
    )
    if repeated:
        problem = {"msg": "query parameter given more than once", "type": "value_error"}
        raise RequestValidationError([{**problem, "loc": ("query", n)} for n in repeated])


def _declared(dependant: Dependant) -> dict[str, bool]:
    """The query parameters a route reads (its dependencies' included), each with whether
    it takes several values."""
    names = {p.alias: _takes_several(p.field_info.annotation) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


def _takes_several(annotation: object) -> bool:
    """`list[str]`, `list[str] | None`, `tuple[...]`... (a query parameter given N times)."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for part in typing.get_args(annotation) if union else (annotation,):
        if (typing.get_origin(part) or part) in (list, tuple, set, frozenset):
            return True
    return False


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Unauthenticated, _auth_refused)
    app.add_exception_handler(RateLimited, _auth_refused)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)


async def _auth_refused(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Unauthenticated | RateLimited)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(math.ceil(exc.retry_after))
    return refusal(exc.http_status, str(exc), headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith(PREFIX):
        return await request_validation_exception_handler(request, exc)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    )
    return refusal(422, f"invalid request: {problems}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith(PREFIX):
        return await http_exception_handler(request, exc)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed(request))
    return refusal(exc.status_code, str(exc.detail), headers)


def _allowed(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)

"""Every /api/v1 endpoint checks its role: anonymous, viewer, operator and admin against each,
through the real app under uvicorn, on SQLite. A new endpoint missing from ENDPOINTS fails
`test_the_matrix_covers_every_endpoint`, so none ships unchecked."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeship.store.repository import Store
from safeship.store.tokens import Role
from tests.api_kit import api_app, bearer, open_incident, running_rollout, served, tokens


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {caller} is replaced, so each caller gets its own token name to create/revoke
    needs: Role
    ok: int  # what a caller with the role gets
    body: dict[str, Any] | None = field(default=None)


SILENCE = {"matchers": ['alertname="Down"'], "duration_s": 60, "comment": "deploy"}
ENDPOINTS = [
    Endpoint("GET", "/api/v1/rollouts", Role.viewer, 200),
    Endpoint("GET", "/api/v1/rollouts/web-1", Role.viewer, 200),
    # Without reconcilers (no services in safeship.yaml) the role check passes, then 409.
    Endpoint("POST", "/api/v1/rollouts", Role.operator, 409, {"service": "web", "version": "v9"}),
    Endpoint("GET", "/api/v1/services", Role.viewer, 200),
    Endpoint("POST", "/api/v1/rollouts/web-1/pause", Role.operator, 202, {"reason": "look"}),
    Endpoint("POST", "/api/v1/rollouts/web-1/resume", Role.operator, 202),
    Endpoint("POST", "/api/v1/rollouts/web-1/promote", Role.operator, 202, {"full": True}),
    Endpoint("POST", "/api/v1/rollouts/web-1/abort", Role.operator, 202),
    Endpoint(
        "POST", "/api/v1/rollouts/web-1/rollback", Role.operator, 202, {"strategy": "gradual"}
    ),
    # A running rollout is not retryable: the role check passes, the state refuses.
    Endpoint("POST", "/api/v1/rollouts/web-1/retry", Role.operator, 409),
    Endpoint("GET", "/api/v1/audit", Role.viewer, 200),
    Endpoint("GET", "/api/v1/audit/verify", Role.viewer, 200),
    Endpoint("GET", "/api/v1/events", Role.viewer, 200),
    Endpoint("GET", "/api/v1/tokens", Role.admin, 200),
    Endpoint("POST", "/api/v1/tokens", Role.admin, 201, {"name": "new-{caller}", "role": "viewer"}),
    Endpoint("DELETE", "/api/v1/tokens/doomed-{caller}", Role.admin, 200),
    Endpoint("GET", "/api/v1/incidents", Role.viewer, 200),
    Endpoint("GET", "/api/v1/incidents/inc-{caller}", Role.viewer, 200),
    # one incident per caller, so each role's ack is the first (ack, escalate, resolve, note)
    Endpoint("POST", "/api/v1/incidents/inc-{caller}/ack", Role.operator, 200),
    Endpoint("POST", "/api/v1/incidents/inc-{caller}/escalate", Role.operator, 200),
    Endpoint("POST", "/api/v1/incidents/inc-{caller}/resolve", Role.operator, 200),
    Endpoint("POST", "/api/v1/incidents/inc-{caller}/notes", Role.operator, 200, {"message": "x"}),
    Endpoint(
        "POST",
        "/api/v1/alertmanager/webhook",
        Role.operator,
        200,
        {"version": "4", "status": "firing", "alerts": []},
    ),
    Endpoint("GET", "/api/v1/silences", Role.viewer, 200),
    Endpoint("POST", "/api/v1/silences", Role.operator, 201, SILENCE),
    # No such silence: the role check passes, the store answers 404.
    Endpoint("DELETE", "/api/v1/silences/none-{caller}", Role.operator, 404),
    Endpoint("GET", "/api/v1/notifications", Role.viewer, 200),
    # No such notification: the role check passes, the lookup refuses.
    Endpoint("POST", "/api/v1/notifications/999/retry", Role.operator, 404),
]
CALLERS: list[Role | None] = [None, *Role]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder: Path = tmp_path_factory.mktemp("roles")
    with Store.open(f"sqlite:///{folder / 'state.db'}") as opened:
        opened.save_rollout(running_rollout("web-1"))
        with opened.transaction() as tx:
            for caller in CALLERS:
                tx.incidents.save(open_incident(f"inc-{caller}"))
        yield opened


@pytest.fixture(scope="module")
def issued(store: Store) -> dict[Role, str]:
    made = tokens(store)
    for caller in CALLERS:  # one token per caller for DELETE to revoke
        store.create_token(name=f"doomed-{caller}", role=Role.viewer, actor="test")
    return made


@pytest.fixture(scope="module")
def url(store: Store) -> Iterator[str]:
    with served(api_app(store)) as base:
        yield base


def _call(url: str, endpoint: Endpoint, caller: Role | None, token: str | None) -> int:
    path = endpoint.path.replace("{caller}", str(caller))
    body = endpoint.body and {
        k: v.replace("{caller}", str(caller)) if isinstance(v, str) else v
        for k, v in endpoint.body.items()
    }
    headers = bearer(token) if token else {}
    with (
        httpx.Client(base_url=url, timeout=10) as client,
        client.stream(endpoint.method, path, json=body, headers=headers) as response,
    ):
        return response.status_code  # an event stream is left unread, and closed


@pytest.mark.parametrize(
    ("endpoint", "caller"),
    list(itertools.product(ENDPOINTS, CALLERS)),
    ids=lambda v: f"{v.method} {v.path}" if isinstance(v, Endpoint) else str(v),
)
def test_each_endpoint_answers_each_role(
    url: str, issued: dict[Role, str], endpoint: Endpoint, caller: Role | None
) -> None:
    if caller is None:
        assert _call(url, endpoint, caller, None) == 401
        return
    expected = endpoint.ok if caller.allows(endpoint.needs) else 403
    assert _call(url, endpoint, caller, issued[caller]) == expected


def test_the_matrix_covers_every_endpoint(store: Store) -> None:
    app = api_app(store)
    routes = {
        (method, path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
    }
    covered = {
        (
            e.method.lower(),
            e.path.replace("web-1", "{rollout_id}")
            .replace("doomed-{caller}", "{name}")
            .replace("inc-{caller}", "{incident_id}")
            .replace("none-{caller}", "{silence_id}")
            .replace("/999/", "/{row_id}/"),
        )
        for e in ENDPOINTS
    }
    assert routes == covered

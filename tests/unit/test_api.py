"""/api/v1 through the real app (FastAPI TestClient) on SQLite: gates write the requests the
CLI writes, the audit actor is the token's name, tokens are shown once, guessing is braked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safeship.store.repository import Store
from safeship.store.tokens import Role
from safeship.testing import FakeClock
from tests.api_kit import api_app, bearer, running_rollout, tokens


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock) as opened:
        opened.save_rollout(running_rollout("web-1", now=clock.now()))
        yield opened


@pytest.fixture
def issued(store: Store) -> dict[Role, str]:
    return tokens(store)


@pytest.fixture
def client(store: Store, clock: FakeClock) -> TestClient:
    return TestClient(api_app(store, clock=clock))


def test_a_gate_queues_the_request_audited_under_the_token_name(
    client: TestClient, store: Store, issued: dict[Role, str]
) -> None:
    body = {"reason": "checking latency", "strategy": "gradual", "actor": "someone-else"}
    answer = client.post(
        "/api/v1/rollouts/web-1/rollback", json=body, headers=bearer(issued[Role.operator])
    )
    assert answer.status_code == 202
    assert answer.json()["actor"] == "operator"
    [request] = store.pending_requests("web-1")
    assert (request.kind, request.actor, request.reason) == ("rollback", "operator", body["reason"])
    assert dict(request.options) == {"mode": "gradual"}
    last = store.audit_entries(rollout_id="web-1")[-1]
    assert (last.actor, last.action, last.service) == ("operator", "request rollback", "web")


def test_gates_refuse_unknown_and_finished_rollouts(
    client: TestClient, store: Store, issued: dict[Role, str], clock: FakeClock
) -> None:
    headers = bearer(issued[Role.operator])
    missing = client.post("/api/v1/rollouts/nope/pause", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("no rollout nope")
    done = replace(
        running_rollout("web-1"), phase="promoted", finished_at=clock.now(), result="promoted"
    )
    store.save_rollout(done)
    finished = client.post("/api/v1/rollouts/web-1/pause", headers=headers)
    assert finished.status_code == 409
    assert "already promoted" in finished.json()["error"]
    assert store.pending_requests("web-1") == []


def test_a_rollout_reads_with_phase_step_weight_and_message(
    client: TestClient, issued: dict[Role, str]
) -> None:
    viewer = bearer(issued[Role.viewer])
    [listed] = client.get("/api/v1/rollouts", params={"service": "web"}, headers=viewer).json()
    assert (listed["phase"], listed["step"], listed["canary_weight"]) == ("Progressing", 2, 20.0)
    assert listed["message"] == "analysing" and listed["last_verdict"] is None
    assert client.get("/api/v1/rollouts", params={"service": "db"}, headers=viewer).json() == []
    detail = client.get("/api/v1/rollouts/web-1", headers=viewer).json()
    assert detail["to_version"] == "v2" and "spec" in detail


def test_a_token_is_shown_once_works_and_stops_when_revoked(
    client: TestClient, store: Store, issued: dict[Role, str]
) -> None:
    admin = bearer(issued[Role.admin])
    made = client.post("/api/v1/tokens", json={"name": "bot", "role": "operator"}, headers=admin)
    assert made.status_code == 201
    token = made.json()["token"]
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert {"name": "bot", "role": "operator"}.items() <= next(
        t for t in listed if t["name"] == "bot"
    ).items()
    assert token not in client.get("/api/v1/tokens", headers=admin).text
    assert client.get("/api/v1/rollouts", headers=bearer(token)).status_code == 200
    assert client.delete("/api/v1/tokens/bot", headers=admin).status_code == 200
    assert client.get("/api/v1/rollouts", headers=bearer(token)).status_code == 401
    audited = [(e.actor, e.action) for e in store.audit_entries()][-2:]
    assert audited == [("admin", "create token"), ("admin", "revoke token")]


def test_failed_authentication_is_rate_limited_per_address(
    client: TestClient, issued: dict[Role, str], clock: FakeClock
) -> None:
    wrong = bearer("safeship_000000000000_guess")
    codes = [client.get("/api/v1/rollouts", headers=wrong).status_code for _ in range(10)]
    assert codes == [401] * 10
    limited = client.get("/api/v1/rollouts", headers=wrong)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    # Even a valid token waits: an empty bucket answers before any token is checked.
    assert client.get("/api/v1/rollouts", headers=bearer(issued[Role.viewer])).status_code == 429
    clock.advance(float(limited.headers["Retry-After"]))
    assert client.get("/api/v1/rollouts", headers=bearer(issued[Role.viewer])).status_code == 200


def test_refusals_say_how_to_authenticate(client: TestClient, issued: dict[Role, str]) -> None:
    anonymous = client.get("/api/v1/rollouts")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in anonymous.json()["error"]
    forbidden = client.get("/api/v1/tokens", headers=bearer(issued[Role.operator]))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "token 'operator' is operator; this needs admin"


def test_the_audit_log_reads_by_rollout_and_verifies(
    client: TestClient, issued: dict[Role, str]
) -> None:
    operator, viewer = bearer(issued[Role.operator]), bearer(issued[Role.viewer])
    client.post("/api/v1/rollouts/web-1/pause", json={"reason": "lunch"}, headers=operator)
    entries = client.get("/api/v1/audit", params={"rollout": "web-1"}, headers=viewer).json()
    assert [(e["actor"], e["action"], e["reason"]) for e in entries] == [
        ("operator", "request pause", "lunch")
    ]
    verified = client.get("/api/v1/audit/verify", headers=viewer).json()
    assert verified["ok"] is True and verified["checked"] == len(Role) + 1


def test_the_openapi_schema_describes_the_api_with_its_models(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    rollouts = schema["paths"]["/api/v1/rollouts/{rollout_id}"]["get"]["responses"]
    assert rollouts["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RolloutDetail"
    )
    assert rollouts["401"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_a_misspelt_query_parameter_is_refused_not_ignored(
    client: TestClient, issued: dict[Role, str]
) -> None:
    viewer = bearer(issued[Role.viewer])
    assert client.get("/api/v1/rollouts?service=web&limit=5", headers=viewer).status_code == 200
    answer = client.get("/api/v1/rollouts?servcie=web", headers=viewer)
    assert answer.status_code == 422
    assert "servcie" in answer.json()["error"]


def test_a_one_value_filter_given_twice_is_refused_not_half_applied(
    client: TestClient, issued: dict[Role, str]
) -> None:
    """FastAPI would keep the last value: `?service=a&service=b` would list b's only."""
    viewer = bearer(issued[Role.viewer])
    answer = client.get("/api/v1/rollouts?service=web&service=api", headers=viewer)
    assert answer.status_code == 422
    assert "service" in answer.json()["error"]

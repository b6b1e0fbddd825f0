"""`safeship notifications list|retry` on the state database and through the API: dead
letters listed, requeued once, refusals with exit 2; the API needs operator to requeue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safeship.cli.main import app
from safeship.store.outbox import OutboxEntry, OutboxStatus
from safeship.store.repository import Store
from safeship.store.tokens import Role
from tests.api_kit import api_app, served, tokens


@pytest.fixture
def db(tmp_path: Path) -> str:
    """An outbox with one dead letter (id 1) and one pending notification (id 2)."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with Store.open(url) as store:
        store.submit_notifications(
            [
                OutboxEntry(
                    receiver=r,
                    integration="webhook_configs[0]",
                    group_key=g,
                    sequence=1,
                    payload={},
                )
                for r, g in (("team", '{}:{alertname="A"}'), ("ops", "{}:{}"))
            ]
        )
        first = store.claim_notifications(limit=1, hold_s=30)[0]
        store.notification_failed(first.id, error="HTTP 400: no", retry_at=None)
    return url


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["notifications", *args], env={"USER": "alice", **(env or {})})
    return result.exit_code, result.output


def test_dead_letters_are_listed_and_requeued_once(db: str) -> None:
    code, out = cli("list", "--status", "dead", "--format", "json", "--db", db)
    assert code == 0
    [dead] = json.loads(out)
    assert (dead["id"], dead["receiver"], dead["status"]) == (1, "team", "dead")
    assert dead["last_error"] == "HTTP 400: no" and "payload" not in dead
    code, table = cli("list", "--db", db)
    assert code == 0 and "team" in table and "ops" in table
    assert cli("retry", "1", "--db", db)[0] == 0
    with Store.open(db) as store:
        assert [r.status for r in store.notifications()] == [OutboxStatus.pending] * 2
        assert store.audit_entries()[-1].actor == "alice"
    code, out = cli("retry", "1", "--db", db)
    assert code == 2 and "not dead" in out
    code, out = cli("retry", "7", "--db", db)
    assert code == 2 and "no notification 7" in out


def test_through_the_api_a_viewer_lists_and_an_operator_requeues(db: str) -> None:
    with Store.open(db) as store:
        issued = tokens(store)
        with served(api_app(store)) as url:
            viewer = {"SAFESHIP_SERVER": url, "SAFESHIP_TOKEN": issued[Role.viewer]}
            code, out = cli("list", "--status", "dead", "--format", "json", env=viewer)
            assert code == 0 and [r["id"] for r in json.loads(out)] == [1]
            code, out = cli("retry", "1", env=viewer)
            assert code == 2 and "operator" in out
            operator = {**viewer, "SAFESHIP_TOKEN": issued[Role.operator]}
            assert cli("retry", "1", env=operator)[0] == 0
        assert store.notifications(status=OutboxStatus.dead) == []
        assert store.audit_entries()[-1].actor == "operator"


def test_deliver_refuses_a_config_it_cannot_use_naming_file_and_line(
    db: str, tmp_path: Path
) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text("receivers:\n- name: chat\n  slack_configs: [{channel: '#ops'}]\n")
    code, out = cli("deliver", "-c", str(config), "--db", db)
    assert code == 2 and "alertmanager.yml:3" in out and "slack://" in out
    code, out = cli("deliver", "-c", str(config), "--db", db, "--backoff", "soon")
    assert code == 2 and "--backoff 'soon'" in out


def test_deliver_refuses_a_claim_hold_shorter_than_a_send_timeout(db: str, tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "receivers:\n- name: a\n  webhook_configs:\n  - {url: 'http://x/', timeout: 30s}\n"
    )
    code, out = cli("deliver", "-c", str(config), "--db", db, "--hold", "30s")
    assert code == 2 and "must be longer than the longest send timeout (30s)" in out

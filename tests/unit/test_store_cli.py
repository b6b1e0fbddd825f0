"""`safeship audit list|verify` driven through the real Typer app, against SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from safeship.cli import audit as audit_cli
from safeship.store import RolloutRecord, Store
from safeship.testing import FakeClock
from tests.unit.tampering import tamper

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}

# The command module registered on its own app, as cli/main.py does, so these tests do not
# depend on every other command module importing cleanly.
app = typer.Typer()
audit_cli.register(app)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with Store.open(url, clock=FakeClock(start=1_800_000_000.0)) as store:
        store.save_rollout(
            RolloutRecord(
                id="demo-20261123-132501-ab12",
                service="demo",
                from_version="v1",
                to_version="v2",
                strategy="canary",
                actor="alice",
                phase="Done",
                created_at=1_800_000_000.0,
                updated_at=1_800_000_185.0,
                finished_at=1_800_000_185.0,
                result="rolled_back",
                reason="error rate above 1%",
            )
        )
        for action in ("rollout.start", "weight.set", "rollout.rollback"):
            store.audit(
                actor="alice",
                action=action,
                rollout_id="demo-20261123-132501-ab12",
                service="demo",
                details={"password": "hunter2", "weight": 5},
            )
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args], env=WIDE)
    return result.exit_code, result.output


def test_list_shows_each_rollout_with_versions_actor_duration_and_result(db: str) -> None:
    code, out = run("list", "--db", db)
    assert code == 0, out
    for text in ("demo-20261123-132501-ab12", "v1 → v2", "alice", "3m05s", "rolled_back"):
        assert text in out


def test_list_of_one_rollout_shows_every_audited_action(db: str) -> None:
    code, out = run("list", "--rollout", "demo-20261123-132501-ab12", "--db", db)
    assert code == 0, out
    for action in ("rollout.start", "weight.set", "rollout.rollback"):
        assert action in out
    assert "hunter2" not in out


def test_list_as_json_is_machine_readable(db: str) -> None:
    code, out = run("list", "--format", "json", "--db", db)
    assert code == 0, out
    rollouts = json.loads(out)["rollouts"]
    assert [(r["id"], r["result"]) for r in rollouts] == [
        ("demo-20261123-132501-ab12", "rolled_back")
    ]
    code, out = run(
        "list", "--rollout", "demo-20261123-132501-ab12", "--format", "json", "--db", db
    )
    audit = json.loads(out)["audit"]
    assert [e["action"] for e in audit] == ["rollout.start", "weight.set", "rollout.rollback"]
    assert audit[0]["details"] == {"password": "***", "weight": 5}


def test_list_reads_the_database_named_by_safeship_db(db: str) -> None:
    result = CliRunner().invoke(app, ["audit", "list"], env={**WIDE, "SAFESHIP_DB": db})
    assert result.exit_code == 0 and "demo-20261123-132501-ab12" in result.output


def test_unknown_rollout_is_invalid_input(db: str) -> None:
    code, out = run("list", "--rollout", "nope", "--db", db)
    assert code == 2
    assert "no rollout 'nope'" in out


def test_verify_reports_ok_with_the_count(db: str) -> None:
    code, out = run("verify", "--db", db)
    first, second = out.strip().splitlines()
    assert (code, first) == (0, "OK: 3 audit entries verified, the chain is intact")
    assert second == "rollouts: 0 match what the chain recorded; 1 older than chained states"


def test_verify_names_the_altered_entry_and_exits_1(db: str) -> None:
    tamper(db, "UPDATE audit SET actor = 'mallory' WHERE id = 2")
    code, out = run("verify", "--db", db)
    assert code == 1
    assert out.startswith("BROKEN (edited): audit entry 2:")


def test_unusable_database_exits_3_with_a_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out = run("verify", "--db", f"sqlite:///{blocker / 'state.db'}")
    assert code == 3
    assert "cannot create" in out
    code, out = run("list", "--db", "mysql://root@127.0.0.1/x")
    assert (code, "unsupported database URL" in out) == (3, True)

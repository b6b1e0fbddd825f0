"""Backup and restore, driven through the real commands: a snapshot of a database holding a
paused rollout, a long signed audit log and a pending request is restored into a fresh one,
the audit log verifies there, `status` shows the rollout and a `resume` can be queued.
Runs on SQLite here and on PostgreSQL in tests/integration/test_backup_postgres.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from safeship.cli import backup as backup_cli
from safeship.cli import gates as gates_cli
from safeship.cli import rollouts as rollouts_cli
from safeship.config.models import RolloutSpec
from safeship.core.errors import ExitCode
from safeship.rollout.journal import to_record
from safeship.rollout.state import Phase, new_status
from safeship.store import Store
from safeship.store.backup import SQLITE_MAGIC
from safeship.testing import FakeClock

T0 = 1_800_000_000.0
ROLLOUT = "web-20270115-080000-ab12"
SPEC = RolloutSpec.model_validate(
    {
        "service": {"name": "web", "command": ["serve", "{port}"]},
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
    }
)
app = typer.Typer()
for module in (backup_cli, gates_cli, rollouts_cli):
    module.register(app)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'source' / 'state.db'}"


@pytest.fixture
def target_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'restored' / 'state.db'}"


@pytest.fixture(autouse=True)
def audit_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """One key for source and target, kept apart from both databases, as operators should."""
    path = tmp_path / "keys" / "audit.key"
    path.parent.mkdir()
    path.write_text("k" * 64)
    path.chmod(0o600)
    monkeypatch.setenv("SAFESHIP_AUDIT_KEY_FILE", str(path))
    return path


@pytest.fixture
def source(store_url: str) -> str:
    return fill(store_url)


def fill(store_url: str) -> str:
    """A database with a paused rollout, 70 audit entries (one signed checkpoint) and a request."""
    with Store.open(store_url, clock=FakeClock(start=T0)) as store:
        status = new_status(SPEC, rollout_id=ROLLOUT, stable="v1", canary="v2", now=T0)
        paused = status.model_copy(update={"phase": Phase.PAUSED, "message": "held by alice"})
        store.save_rollout(to_record(paused, spec=SPEC, actor="alice", now=T0))
        for i in range(70):
            store.audit(actor="alice", action="tick", rollout_id=ROLLOUT, details={"i": i})
        with store.transaction() as tx:
            tx.add_request(rollout_id=ROLLOUT, kind="pause", actor="alice")
        assert store.verify_audit().ok
    return store_url


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250", "NO_COLOR": "1"})
    return result.exit_code, result.output


def test_a_restored_database_resumes_the_paused_rollout(
    source: str, target_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "state.backup"
    code, out = cli("backup", str(file), "--db", source)
    assert code == 0, out
    assert "back up" in out and "separately" in out  # the key is not in the backup
    code, out = cli("restore", str(file), "--db", target_url)
    assert code == 0, out
    assert "audit log verified: 70 entries, 1 signed checkpoints" in out
    code, out = cli("status", ROLLOUT, "--db", target_url, "--format", "json")
    assert code == 0, out
    assert json.loads(out)[0]["phase"] == "Paused"
    code, out = cli("resume", ROLLOUT, "--db", target_url, "--reason", "after restore")
    assert code == 0, out
    with Store.open(target_url) as restored:
        pending = restored.pending_requests(ROLLOUT)
        verification = restored.verify_audit()
    assert [r.kind for r in pending] == ["pause", "resume"]
    assert pending[1].id > pending[0].id  # ids continue after the restored ones
    assert (verification.ok, verification.checked) == (True, 71)


def test_the_backup_format_follows_the_database(source: str, tmp_path: Path) -> None:
    file = tmp_path / "state.backup"
    assert cli("backup", str(file), "--db", source)[0] == 0
    head = file.read_bytes()[:16]
    if source.startswith("sqlite"):
        assert head == SQLITE_MAGIC  # the online backup API's copy
    else:
        with gzip.open(file, "rt") as lines:
            header = json.loads(next(lines))
        assert header["format"] == "safeship-backup/1" and header["revision"]


def test_a_non_empty_target_is_refused_unless_forced(
    source: str, target_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "state.backup"
    assert cli("backup", str(file), "--db", source)[0] == 0
    assert cli("restore", str(file), "--db", target_url)[0] == 0
    cli("resume", ROLLOUT, "--db", target_url)
    code, out = cli("restore", str(file), "--db", target_url)
    assert code == ExitCode.INVALID and "not empty" in out
    code, out = cli("restore", str(file), "--db", target_url, "--force")
    assert code == 0, out
    with Store.open(target_url) as restored:
        assert [r.kind for r in restored.pending_requests(ROLLOUT)] == ["pause"]


def test_without_the_audit_key_that_signed_it_nothing_is_restored(
    source: str, target_url: str, tmp_path: Path, audit_key: Path
) -> None:
    file = tmp_path / "state.backup"
    assert cli("backup", str(file), "--db", source)[0] == 0
    audit_key.write_text("another key entirely")
    code, out = cli("restore", str(file), "--db", target_url)
    assert code == ExitCode.UNAVAILABLE
    assert "does not verify" in out and "audit key" in out
    with Store.open(target_url) as restored:
        assert restored.get_rollout(ROLLOUT) is None  # one transaction: nothing was kept


def test_a_file_that_is_not_a_backup_is_refused(target_url: str, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("hello")
    code, out = cli("restore", str(file), "--db", target_url)
    assert code == ExitCode.INVALID and "not a safeship backup" in out

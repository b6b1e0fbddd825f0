"""Backup and restore on a real PostgreSQL: the SQLite contract of test_store_backup.py
unchanged (a logical export restored into a second fresh database), and a SQLite backup
restored into PostgreSQL, which is how a team moves off the default store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers import contract
from tests.unit import test_store_backup as _contract

pytestmark = pytest.mark.integration

globals().update(contract("test_store_backup", "audit_key", "source"))
cli = _contract.cli
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def target_url() -> Iterator[str]:
    """A second fresh database, the restore's target."""
    name = f"safeship_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_sqlite_backup_restores_into_postgresql(target_url: str, tmp_path: Path) -> None:
    sqlite_url = _contract.fill(f"sqlite:///{tmp_path / 'sqlite' / 'state.db'}")
    file = tmp_path / "state.backup"
    assert cli("backup", str(file), "--db", sqlite_url)[0] == 0
    code, out = cli("restore", str(file), "--db", target_url)
    assert code == 0, out
    code, out = cli("status", _contract.ROLLOUT, "--db", target_url, "--format", "json")
    assert code == 0 and '"Paused"' in out

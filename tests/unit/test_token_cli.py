"""`safeship token create|list|revoke` on the state database: the token is printed once, alone
on the last line, never listed, and stops working when revoked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safeship.cli.main import app
from safeship.store.repository import Store


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def token(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["token", *args, "--db", db], env={"USER": "alice"})
    return result.exit_code, result.output


def test_a_token_is_printed_once_and_works_until_revoked(db: str) -> None:
    code, out = token(db, "create", "--name", "deploy-bot", "--role", "operator")
    assert code == 0
    made = out.strip().splitlines()[-1]
    with Store.open(db) as store:
        found = store.authenticate(made)
        assert found is not None and (found.name, found.created_by) == ("deploy-bot", "alice")
    code, listed = token(db, "list", "--format", "json")
    assert code == 0 and made not in listed
    [row] = json.loads(listed)
    assert (row["name"], row["role"]) == ("deploy-bot", "operator")
    assert row["last_used_at"] is not None  # used once, above
    assert token(db, "revoke", "deploy-bot")[0] == 0
    with Store.open(db) as store:
        assert store.authenticate(made) is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("create", "--name", "x", "--role", "root"), "root"),
        (("create", "--name", "two words", "--role", "viewer"), "token name"),
        (("revoke", "nobody"), "no token named 'nobody'"),
    ],
)
def test_what_cannot_be_done_exits_2(db: str, args: tuple[str, ...], says: str) -> None:
    code, out = token(db, *args)
    assert code == 2 and says in out

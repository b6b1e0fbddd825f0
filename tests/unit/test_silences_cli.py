"""Silences: `safeship silences add|list|expire` on the state database and through the API
(same answers, audited with the right actor), and the pure rules on a fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from safeship.alerting.silence_book import SilenceBook
from safeship.alerting.silences import SilenceState
from safeship.cli import silences as silences_cli
from safeship.core.errors import Conflict, InvalidInput, NotFound
from safeship.store.repository import Store
from safeship.store.tokens import Role
from safeship.testing import FakeClock
from tests.api_kit import api_app, served, tokens

app = typer.Typer()
silences_cli.register(app)
runner = CliRunner()
START = 1_800_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["silences", *args], env={"COLUMNS": "250", **(env or {})})
    return result.exit_code, result.output


def test_add_list_expire_on_the_store(db: str) -> None:
    code, out = _run(
        "add", "--db", db, "-m", 'alertname="Down"', "-m", "env=~prod.*",
        "--duration", "2h", "--comment", "deploy", "--author", "alice",
    )  # fmt: skip
    assert code == 0, out
    silence_id = out.strip()
    code, out = _run("list", "--db", db, "--format", "json")
    [listed] = json.loads(out)
    assert listed["id"] == silence_id and listed["state"] == "active"
    assert listed["matchers"] == ['alertname="Down"', 'env=~"prod.*"']
    assert listed["ends_at"] - listed["starts_at"] == 7200
    assert (listed["created_by"], listed["comment"]) == ("alice", "deploy")
    assert _run("expire", "--db", db, silence_id)[0] == 0
    [listed] = json.loads(_run("list", "--db", db, "--format", "json")[1])
    assert listed["state"] in ("expired", "active")  # ends now: expired the next instant
    code, out = _run("expire", "--db", db, silence_id)
    assert code == 2 and "already expired" in out
    with Store.open(db) as store:
        actions = [(e.actor, e.action, e.reason) for e in store.audit_entries()]
    assert actions[0] == ("alice", "create silence", "deploy")
    assert actions[1][1] == "expire silence"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["-m", 'a="b', "--duration", "1h", "--comment", "c"], "unescaped double quote"),
        (["-m", 'a=""', "--duration", "1h", "--comment", "c"], "must not match the empty"),
        (["-m", 'a="b"', "--duration", "soon", "--comment", "c"], "--duration"),
        (["-m", 'a="b"', "--duration", "1h", "--comment", " "], "needs a comment"),
    ],
)
def test_bad_silences_are_refused(db: str, args: list[str], reason: str) -> None:
    code, out = _run("add", "--db", db, *args)
    assert code == 2 and reason in out


def test_unknown_silence_cannot_be_expired(db: str) -> None:
    code, out = _run("expire", "--db", db, "nope")
    assert code == 2 and "no silence" in out


@pytest.fixture
def server(db: str) -> Iterator[tuple[str, dict[Role, str]]]:
    with Store.open(db) as store:
        made = tokens(store)
        with served(api_app(store)) as url:
            yield url, made


def test_the_same_through_the_api(server: tuple[str, dict[Role, str]], db: str) -> None:
    url, made = server
    operator = {"SAFESHIP_TOKEN": made[Role.operator]}
    add = ["add", "--server", url, "-m", 'severity="page"', "--duration", "30m", "--comment", "c"]
    add += ["--author", "bob"]  # who the silence names; the audit names the token
    code, out = _run(*add, env=operator)
    assert code == 0, out
    silence_id = out.strip()
    code, out = _run("list", "--server", url, "--format", "json",
                     env={"SAFESHIP_TOKEN": made[Role.viewer]})  # fmt: skip
    assert [s["created_by"] for s in json.loads(out)] == ["bob"]
    code, out = _run("expire", "--server", url, silence_id,
                     env={"SAFESHIP_TOKEN": made[Role.viewer]})  # fmt: skip
    assert code == 2 and "403" in out  # a viewer may read, not expire
    assert _run("expire", "--server", url, silence_id, env=operator)[0] == 0
    with Store.open(db) as store:
        silence_actions = [
            (e.actor, e.action) for e in store.audit_entries() if "silence" in e.action
        ]
    assert silence_actions == [("operator", "create silence"), ("operator", "expire silence")]


def test_states_on_a_fake_clock(db: str) -> None:
    clock = FakeClock(start=START)
    with Store.open(db, clock=clock) as store:
        book = SilenceBook(store)
        later = book.add(
            ['a="b"'], duration_s=60, comment="c", created_by="x", starts_at=START + 30
        )
        now = book.add(['a="b"'], duration_s=60, comment="c", created_by="x")
        assert [s.state(clock.now()) for s in (later, now)] == [
            SilenceState.PENDING, SilenceState.ACTIVE
        ]  # fmt: skip
        clock.advance(61)
        assert now.state(clock.now()) is SilenceState.EXPIRED
        assert later.state(clock.now()) is SilenceState.ACTIVE
        with pytest.raises(Conflict):
            book.expire(now.id, actor="x")
        clock.advance(1)
        stopped = book.expire(later.id, actor="x")
        assert stopped.ends_at == clock.now()
        clock.advance(0.001)
        assert [s.state(clock.now()) for s in book.list()] == [SilenceState.EXPIRED] * 2
        assert book.list(include_expired=False) == []
        with pytest.raises(NotFound):
            book.expire("nope", actor="x")
        with pytest.raises(InvalidInput):
            book.add(['a="b"'], duration_s=0, comment="c", created_by="x")

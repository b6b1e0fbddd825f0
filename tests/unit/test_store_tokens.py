"""API tokens in the store: shown once, stored hashed, listed without secrets, revoked at once,
every creation and revocation audited. Run on SQLite here and on PostgreSQL by
tests/integration/test_tokens_postgres.py (which overrides only `store_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from safeship.core.errors import Conflict, InvalidInput, NotFound
from safeship.store.repository import Store
from safeship.store.tokens import Role
from safeship.testing import FakeClock


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with Store.open(store_url, clock=clock) as opened:
        yield opened


def test_a_token_authenticates_as_its_name_and_role(store: Store) -> None:
    record, token = store.create_token(name="deploy-bot", role=Role.operator, actor="alice")
    found = store.authenticate(token)
    assert found is not None
    assert (found.name, found.role, found.created_by) == ("deploy-bot", Role.operator, "alice")
    assert record.id in token


def test_the_database_holds_no_token_and_a_wrong_secret_fails(store: Store, store_url: str) -> None:
    _, token = store.create_token(name="ci", role=Role.viewer, actor="alice")
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        dumped = repr(conn.execute(sa.text("SELECT * FROM api_tokens")).all())
    engine.dispose()
    secret = token.split("_", 2)[2]
    assert secret not in dumped and token not in dumped
    assert store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.authenticate("safeship_nothere_secret") is None
    assert store.authenticate("not a token") is None


def test_revoked_tokens_stop_working_and_listing_shows_no_secret(store: Store) -> None:
    _, keep = store.create_token(name="keep", role=Role.admin, actor="alice")
    _, gone = store.create_token(name="gone", role=Role.viewer, actor="alice")
    store.revoke_token("gone", actor="alice")
    assert store.authenticate(gone) is None
    assert store.authenticate(keep) is not None
    assert [t.name for t in store.tokens()] == ["keep"]
    with pytest.raises(NotFound):
        store.revoke_token("gone", actor="alice")


def test_creation_and_revocation_are_audited_with_who_did_it(store: Store) -> None:
    store.create_token(name="bot", role=Role.operator, actor="alice")
    store.revoke_token("bot", actor="root-token")
    entries = [(e.actor, e.action, dict(e.details)) for e in store.audit_entries()]
    assert entries == [
        ("alice", "create token", {"name": "bot", "role": "operator"}),
        ("root-token", "revoke token", {"name": "bot", "role": "operator"}),
    ]


def test_names_are_unique_and_plain(store: Store) -> None:
    store.create_token(name="bot", role=Role.viewer, actor="alice")
    with pytest.raises(Conflict):
        store.create_token(name="bot", role=Role.admin, actor="alice")
    with pytest.raises(InvalidInput):
        store.create_token(name="two words", role=Role.viewer, actor="alice")


def test_last_use_is_noted_to_the_minute(store: Store, clock: FakeClock) -> None:
    _, token = store.create_token(name="bot", role=Role.viewer, actor="alice")
    assert store.tokens()[0].last_used_at is None
    store.authenticate(token)
    first = store.tokens()[0].last_used_at
    assert first == clock.now()
    clock.advance(30)
    store.authenticate(token)
    assert store.tokens()[0].last_used_at == first  # not rewritten on every request
    clock.advance(31)
    store.authenticate(token)
    assert store.tokens()[0].last_used_at == clock.now()


def test_roles_include_the_ones_below() -> None:
    assert Role.admin.allows(Role.operator) and Role.operator.allows(Role.viewer)
    assert not Role.viewer.allows(Role.operator) and not Role.operator.allows(Role.admin)

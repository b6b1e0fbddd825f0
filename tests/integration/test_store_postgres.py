"""The store on a real PostgreSQL (127.0.0.1:5432, database `test`, trust auth).

Each test gets a fresh database, created and dropped around it. The repository contract of
tests/unit/test_store_repository.py runs here unchanged; an unreachable server fails the run.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from safeship.store import Store
from safeship.store.migrate import current_revision, head_revision
from tests.helpers import contract

pytestmark = pytest.mark.integration


# The SQLite contract tests run here again; only the `store_url` fixture below differs.
globals().update(contract("test_store_repository", "store", "audit_key_file"))


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url


def test_runs_against_postgresql_with_jsonb_documents(store_url: str) -> None:
    with Store.open(store_url) as store:
        assert store.dialect == "postgresql"
    engine = sa.create_engine(store_url)
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns("rollouts")}
    assert type(columns["status"]).__name__ == "JSONB"
    engine.dispose()


def test_concurrent_openers_of_a_fresh_database_both_end_at_head(store_url: str) -> None:
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            Store.open(store_url).close()
        except BaseException as exc:  # collected and asserted below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = sa.create_engine(store_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_four_writers_appending_fifty_entries_each_leave_one_valid_chain(store_url: str) -> None:
    with Store.open(store_url) as store:

        def append_many(worker: int) -> None:
            for i in range(50):
                store.audit(actor=f"writer-{worker}", action="tick", details={"i": i})

        threads = [threading.Thread(target=append_many, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result = store.verify_audit()
        entries = store.audit_entries()
    assert (result.ok, result.checked) == (True, 200)
    assert [e.id for e in entries] == list(range(1, 201))
    for worker in range(4):
        mine = [e.details["i"] for e in entries if e.actor == f"writer-{worker}"]
        assert mine == list(range(50))

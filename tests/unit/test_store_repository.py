"""The store's contract, run here against SQLite and by test_store_postgres.py on PostgreSQL.

Tests here take `store_url` and `store`; the PostgreSQL module overrides only `store_url`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from safeship.config.models import RolloutSpec
from safeship.rollout.journal import StoreJournal
from safeship.rollout.state import Phase, Plan, new_status
from safeship.store import AuditEntry, RolloutRecord, Store, StoreError
from safeship.store.chain import GENESIS_HASH, entry_hash, sign
from safeship.store.migrate import current_revision, head_revision
from safeship.store.records import Tampering
from safeship.testing import FakeClock
from tests.unit.tampering import tamper


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'state.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url, clock=FakeClock(start=1_800_000_000.0))
    yield opened
    opened.close()


def rollout(rollout_id: str, **changes: object) -> RolloutRecord:
    base = RolloutRecord(
        id=rollout_id,
        service="demo",
        from_version="v1",
        to_version="v2",
        strategy="canary",
        actor="alice",
        phase="Progressing",
        created_at=1_800_000_000.0,
        updated_at=1_800_000_000.0,
        spec={"steps": [{"setWeight": 5}, {"pause": "30s"}]},
        status={"step": 0, "weights": {"canary": 5}},
        steps_hash="abc123",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def raw_execute(url: str, sql: str, **params: object) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)
    engine.dispose()


def test_open_migrates_to_head_and_reopening_is_harmless(store_url: str, store: Store) -> None:
    Store.open(store_url).close()
    engine = sa.create_engine(store_url)
    assert current_revision(engine) == head_revision()
    assert {"rollouts", "services", "audit"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_saved_rollout_reads_back_field_for_field(store: Store) -> None:
    record = rollout("demo-1", reason="new checkout", finished_at=None)
    store.save_rollout(record)
    assert store.get_rollout("demo-1") == record
    assert store.get_rollout("missing") is None


def test_saving_the_same_id_again_overwrites_it(store: Store) -> None:
    store.save_rollout(rollout("demo-1"))
    finished = rollout(
        "demo-1",
        phase="Done",
        updated_at=1_800_000_900.0,
        finished_at=1_800_000_900.0,
        result="rolled_back",
        reason="error rate 12% > 1%",
        status={"step": 3, "weights": {"canary": 0}},
    )
    store.save_rollout(finished)
    assert store.get_rollout("demo-1") == finished
    assert len(store.list_rollouts()) == 1


def test_list_is_newest_first_filtered_by_service_and_limited(store: Store) -> None:
    for i, service in enumerate(["demo", "api", "demo", "demo"]):
        store.save_rollout(rollout(f"r{i}", service=service, created_at=1_800_000_000.0 + i))
    assert [r.id for r in store.list_rollouts()] == ["r3", "r2", "r1", "r0"]
    assert [r.id for r in store.list_rollouts(service="demo", limit=2)] == ["r3", "r2"]
    assert [r.id for r in store.list_rollouts(service="api")] == ["r1"]


def test_active_rollout_is_the_newest_unfinished_one_of_the_service(store: Store) -> None:
    store.save_rollout(rollout("old", created_at=1.0, finished_at=5.0, result="promoted"))
    store.save_rollout(rollout("running", created_at=10.0))
    store.save_rollout(rollout("other", service="api", created_at=20.0))
    active = store.active_rollout("demo")
    assert active is not None and active.id == "running"
    store.save_rollout(rollout("running", created_at=10.0, finished_at=30.0, result="aborted"))
    assert store.active_rollout("demo") is None


def test_stable_version_is_unknown_until_set_then_follows_the_last_set(store: Store) -> None:
    assert store.stable_version("demo") is None
    store.set_stable_version("demo", "v1")
    store.set_stable_version("demo", "v2")
    store.set_stable_version("api", "v9")
    assert (store.stable_version("demo"), store.stable_version("api")) == ("v2", "v9")


def test_rollout_and_its_audit_record_commit_together(store: Store) -> None:
    with store.transaction() as tx:
        tx.save_rollout(rollout("demo-1"))
        tx.audit(actor="controller", action="step.start", rollout_id="demo-1", service="demo")
    assert store.get_rollout("demo-1") is not None
    assert [e.action for e in store.audit_entries(rollout_id="demo-1")] == ["step.start"]


def test_a_failing_transaction_leaves_neither_rollout_nor_audit(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.save_rollout(rollout("demo-1"))
        tx.audit(actor="controller", action="step.start", rollout_id="demo-1")
        raise RuntimeError("crash before commit")
    assert store.get_rollout("demo-1") is None
    assert store.audit_entries() == []
    assert store.verify_audit().checked == 0


def test_audit_chain_of_many_entries_verifies(store: Store) -> None:
    first = store.audit(actor="alice", action="rollout.start", rollout_id="r1", service="demo")
    for i in range(9):
        store.audit(actor="controller", action="step", rollout_id="r1", details={"step": i})
    entries = store.audit_entries()
    assert first.prev_hash == "0" * 64
    assert [e.id for e in entries] == list(range(1, 11))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    result = store.verify_audit()
    assert (result.ok, result.checked, result.broken_id) == (True, 10, None)


def test_audit_entries_filter_by_rollout_and_keep_the_newest_when_limited(store: Store) -> None:
    for i in range(5):
        store.audit(actor="a", action=f"act{i}", rollout_id="r1" if i % 2 == 0 else "r2")
    assert [e.action for e in store.audit_entries(rollout_id="r1")] == ["act0", "act2", "act4"]
    assert [e.action for e in store.audit_entries(limit=2)] == ["act3", "act4"]


def test_audit_stamps_entries_with_the_store_clock(store_url: str) -> None:
    clock = FakeClock(start=1_900_000_000.25)
    with Store.open(store_url, clock=clock) as store:
        store.audit(actor="a", action="one")
        clock.advance(90)
        store.audit(actor="a", action="two")
        assert [e.ts for e in store.audit_entries()] == [1_900_000_000.25, 1_900_000_090.25]


def test_updating_an_audit_reason_by_sql_is_detected_at_that_entry(
    store_url: str, store: Store
) -> None:
    for i in range(5):
        store.audit(actor="alice", action="step", reason=f"step {i}")
    tamper(store_url, "UPDATE audit SET reason = 'nothing to see' WHERE id = 3")
    result = store.verify_audit()
    assert (result.ok, result.broken_id, result.checked) == (False, 3, 3)
    assert result.problem is not None and "modified" in result.problem


def test_deleting_an_audit_entry_by_sql_is_detected_at_the_next_one(
    store_url: str, store: Store
) -> None:
    for i in range(4):
        store.audit(actor="alice", action="step", details={"i": i})
    tamper(store_url, "DELETE FROM audit WHERE id = 2")
    result = store.verify_audit()
    assert (result.ok, result.broken_id) == (False, 3)
    assert result.problem is not None and "prev_hash" in result.problem


def test_rehashing_a_tampered_entry_still_breaks_the_chain_after_it(
    store_url: str, store: Store
) -> None:
    entries = [store.audit(actor="a", action="step", details={"i": i}) for i in range(3)]
    tamper(store_url, "UPDATE audit SET hash = :h WHERE id = 1", h="f" * 64)
    assert store.verify_audit().broken_id == 1
    tamper(store_url, "UPDATE audit SET hash = :h WHERE id = 1", h=entries[0].hash)
    assert store.verify_audit().ok


def test_secrets_never_reach_the_database(store_url: str, store: Store) -> None:
    entry = store.audit(
        actor="alice",
        action="deploy",
        reason="pull from https://bob:hunter2@registry.local/app",
        details={"headers": {"Authorization": "Bearer abc"}, "targets": [{"api_key": "k1"}]},
    )
    assert entry.details == {"headers": {"Authorization": "***"}, "targets": [{"api_key": "***"}]}
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        stored = json.dumps([list(r) for r in conn.execute(sa.text("SELECT * FROM audit"))])
    engine.dispose()
    for secret in ("hunter2", "Bearer abc", "k1"):
        assert secret not in stored
    assert store.verify_audit().ok


def test_concurrent_appends_from_threads_keep_one_valid_chain(store: Store) -> None:
    def append_many(worker: int) -> None:
        for i in range(15):
            store.audit(actor=f"worker-{worker}", action="tick", details={"i": i})

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = store.verify_audit()
    assert (result.ok, result.checked) == (True, 60)
    assert [e.id for e in store.audit_entries()] == list(range(1, 61))


# Tamper evidence: the database refuses changes to history, and what an owner with DDL
# rights does anyway (see tampering.py) is named by `verify_audit`.


@pytest.fixture(autouse=True)
def audit_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    key_file = tmp_path / "keys" / "audit.key"
    monkeypatch.setenv("SAFESHIP_AUDIT_KEY_FILE", str(key_file))
    return key_file


def _log(store: Store, count: int) -> list[AuditEntry]:
    return [store.audit(actor="alice", action="step", reason=f"step {i}") for i in range(count)]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit SET reason = 'x' WHERE id = 1",
        "DELETE FROM audit WHERE id = 2",
        "UPDATE audit_checkpoints SET signature = 'x'",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_the_database_refuses_to_change_history(store_url: str, store: Store, sql: str) -> None:
    _log(store, 3)
    store.checkpoint_audit()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        raw_execute(store_url, sql)
    assert store.verify_audit().ok


def test_a_checkpoint_is_signed_every_64_entries_and_on_request(store: Store) -> None:
    _log(store, 65)
    assert store.verify_audit().checkpoints == 2  # entry 64, in the database and the head file
    store.checkpoint_audit()
    store.checkpoint_audit()  # the head is signed already: nothing new
    result = store.verify_audit()
    assert (result.ok, result.checked, result.checkpoints) == (True, 65, 3)


def test_a_deleted_tail_is_caught_by_the_checkpoint_that_signed_it(
    store_url: str, store: Store
) -> None:
    _log(store, 70)
    tamper(store_url, "DELETE FROM audit WHERE id > 60")
    result = store.verify_audit()
    assert (result.ok, result.tampering, result.broken_id) == (False, Tampering.TRUNCATED, 64)
    assert result.problem is not None and "ends at entry 60" in result.problem


def test_a_deleted_tail_with_its_checkpoints_is_caught_by_the_head_outside(
    store_url: str, store: Store
) -> None:
    _log(store, 70)
    tamper(store_url, "DELETE FROM audit WHERE id > 60", "DELETE FROM audit_checkpoints")
    assert store.verify_audit().tampering is Tampering.TRUNCATED


def test_deleted_checkpoints_alone_are_reported(store_url: str, store: Store) -> None:
    _log(store, 70)
    tamper(store_url, "DELETE FROM audit_checkpoints")
    assert store.verify_audit().tampering is Tampering.CHECKPOINTS_DELETED


def test_a_chain_rewritten_from_scratch_is_caught(store_url: str, store: Store) -> None:
    entries = _log(store, 5)
    store.checkpoint_audit()
    prev = GENESIS_HASH
    for entry in entries:  # a consistent chain with one reason changed, every hash redone
        reason = "nothing happened" if entry.id == 2 else entry.reason
        fields = {**asdict(entry), "reason": reason, "prev_hash": prev}
        fields.pop("hash")
        prev = entry_hash(**fields)
        tamper(
            store_url,
            "UPDATE audit SET reason = :reason, prev_hash = :prev, hash = :hash WHERE id = :id",
            reason=reason,
            prev=fields["prev_hash"],
            hash=prev,
            id=entry.id,
        )
    result = store.verify_audit()
    assert (result.ok, result.tampering, result.broken_id) == (False, Tampering.REWRITTEN, 5)


def test_reordered_and_edited_entries_are_named(store_url: str, store: Store) -> None:
    _log(store, 4)
    tamper(store_url, "UPDATE audit SET id = 99 WHERE id = 2")
    tamper(
        store_url, "UPDATE audit SET id = 2 WHERE id = 3", "UPDATE audit SET id = 3 WHERE id = 99"
    )
    result = store.verify_audit()
    assert (result.tampering, result.broken_id) == (Tampering.REMOVED_OR_REORDERED, 2)


def test_a_forged_checkpoint_is_caught(store_url: str, store: Store) -> None:
    entries = _log(store, 3)
    store.checkpoint_audit()
    tamper(
        store_url,
        "INSERT INTO audit_checkpoints (id, ts, entry_id, head_hash, signature) "
        "VALUES (2, 0, 3, :hash, :signature)",
        hash=entries[-1].hash,
        signature=sign(b"not the key", entry_id=3, head_hash=entries[-1].hash),
    )
    result = store.verify_audit()
    assert (result.ok, result.tampering) == (False, Tampering.FORGED_CHECKPOINT)


def test_checkpoints_without_the_key_cannot_pass(
    store: Store, store_url: str, audit_key_file: Path
) -> None:
    _log(store, 2)
    store.checkpoint_audit()
    audit_key_file.unlink()
    with Store.open(store_url) as reopened:
        assert reopened.verify_audit().tampering is Tampering.NO_KEY


def test_a_key_file_others_can_read_is_refused(
    store: Store, store_url: str, audit_key_file: Path
) -> None:
    _log(store, 2)
    store.checkpoint_audit()
    audit_key_file.chmod(0o644)
    with Store.open(store_url) as reopened, pytest.raises(StoreError, match="chmod 600"):
        reopened.verify_audit()


def test_a_rollout_row_edited_behind_the_chain_is_named(store_url: str, store: Store) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    spec = RolloutSpec.model_validate(
        {
            "service": {"name": "shop", "command": ["x"], "stable": "v1"},
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        }
    )
    status = new_status(spec, rollout_id="r1", stable="v1", canary="v2", now=clock.now())
    journal = StoreJournal(store, actor="alice", clock=clock)
    journal.record(Plan(status, (), 0.0, ("started",)), spec=spec)
    rolled_back = status.model_copy(update={"phase": Phase.ROLLED_BACK, "message": "bad"})
    journal.record(Plan(rolled_back), spec=spec)  # no event: the chain records the row anyway
    result = store.verify_audit()
    assert (result.ok, result.rollouts, result.uncovered) == (True, 1, 0)
    tamper(store_url, "UPDATE rollouts SET result = 'promoted', phase = 'Promoted'")
    result = store.verify_audit()
    assert (result.ok, result.tampering) == (False, Tampering.ROLLOUT_EDITED)
    assert result.problem is not None and "phase, result" in result.problem

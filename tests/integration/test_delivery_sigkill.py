"""SIGKILL the delivery worker with notifications queued and the receiver down, restart it,
bring the receiver up: every notification arrives, exactly once per notification id (the
receiver de-duplicates on X-Safeship-Notification-Id), in order within each group, and no
outbox row is lost.

The worker is `safeship notifications deliver`, started as users start it, on SQLite and on
PostgreSQL. Before the kill
the receiver answers 503, then it holds a few requests without answering: those
notifications reached the receiver, but the worker dies before it hears so and records them.
They are the only ones sent twice (the documented window), with the same id and bytes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeship.alerting.delivery import Outbox
from safeship.alerting.notification import Notification, NotifiedAlert, Status
from safeship.store.outbox import OutboxStatus
from safeship.store.repository import Store
from safeship.wiring.notifications import load_receivers
from tests.integration.webhook_kit import Hook, Received, hook_server

pytestmark = pytest.mark.integration
GROUPS, FLUSHES = 8, 3


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def hook() -> Iterator[Hook]:
    with hook_server(answer=503) as running:
        yield running


def notification(group: int, sequence: int) -> Notification:
    alert = NotifiedAlert(
        labels=(("alertname", f"Alert{group}"),),
        annotations=(("flush", str(sequence)),),
        status=Status.FIRING,
        starts_at_ms=1_767_225_600_000,
        ends_at_ms=None,
        generator_url="",
        fingerprint=f"fp{group}",
    )
    return Notification(
        receiver="team",
        group_key=f'{{}}:{{alertname="Alert{group}"}}',
        group_labels=(("alertname", f"Alert{group}"),),
        alerts=(alert,),
        sequence=sequence,
    )


class Worker:
    def __init__(self, config: Path, db: str, log: Path) -> None:
        self.config = config
        self.args = [
            *(sys.executable, "-m", "safeship.cli", "notifications", "deliver"),
            *("-c", str(config), "--db", db),
            *("--backoff", "100ms", "--max-backoff", "500ms", "--hold", "2s"),
        ]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=out)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def worker(tmp_path: Path, db: str, hook: Hook) -> Iterator[Worker]:
    """The worker of the test's receiver and database; killed at the end whatever happened."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"receivers:\n- name: team\n  webhook_configs:\n  - url: {hook.url}/hook\n    timeout: 1s\n"
    )
    running = Worker(config, db, tmp_path / "worker.log")
    yield running
    running.kill()


def test_sigkill_with_a_receiver_down_loses_nothing_and_duplicates_only_held_requests(
    db: str, hook: Hook, worker: Worker
) -> None:
    worker.start()
    with Store.open(db) as store:
        outbox = Outbox(store, load_receivers(worker.config))
        for sequence in range(1, FLUSHES + 1):  # flushes of every group, as routing submits
            outbox.submit([notification(g, sequence) for g in range(GROUPS)])
        hook.wait_for(lambda got: len(got) >= 3 * GROUPS)  # the receiver is down: retried
        assert all(r.status is OutboxStatus.pending for r in store.notifications())

        hook.answer = "hang"
        hook.wait_for(lambda got: any(r.answered is None for r in got))
        time.sleep(0.2)  # let a few more be held
        worker.kill()
        held = {r.notification_id for r in hook.taken()}
        assert held, "no request was held at the kill"

        hook.answer = 200
        worker.start()
        _wait_all_delivered(store, expected=GROUPS * FLUSHES)
        worker.kill()
        rows = store.notifications(limit=1000)

    assert len(rows) == GROUPS * FLUSHES
    assert {r.status for r in rows} == {OutboxStatus.delivered}
    taken = hook.taken()
    by_id: dict[str, list[Received]] = defaultdict(list)
    for got in taken:
        by_id[got.notification_id].append(got)
    assert set(by_id) == {r.notification_id for r in rows}  # none missing, after de-dup
    twice = {nid for nid, copies in by_id.items() if len(copies) > 1}
    assert twice <= held  # duplicates only in the documented window
    assert all(len({c.body for c in copies}) == 1 for copies in by_id.values())
    _assert_in_order_per_group(taken)


def _wait_all_delivered(store: Store, *, expected: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = store.notifications(limit=1000)
        if len(rows) == expected and all(r.status is OutboxStatus.delivered for r in rows):
            return
        time.sleep(0.1)
    states = sorted((r.group_key, r.sequence, r.status.value) for r in store.notifications())
    raise AssertionError(f"not all delivered in {timeout} s: {states}")


def _assert_in_order_per_group(taken: list[Received]) -> None:
    """First copies of each group's notifications arrive in flush order."""
    seen: dict[str, list[str]] = defaultdict(list)
    for got in taken:
        body = got.json()
        flush = body["alerts"][0]["annotations"]["flush"]
        if flush not in seen[body["groupKey"]]:
            seen[body["groupKey"]].append(flush)
    assert len(seen) == GROUPS
    for flushes in seen.values():
        assert flushes == [str(s) for s in range(1, FLUSHES + 1)]

"""`/health/readiness` tells the truth: the store, the scrape loop and the rule manager.

The decision (`judge`) is table-driven; the observations are real: a scraper on a real
socket, a rule manager on a fake clock, SQLite in a folder that is removed and restored, a
PostgreSQL URL where nothing listens.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from safeship.alerting.manager import LoadedGroup, RuleManager
from safeship.alerting.rules import RuleGroup
from safeship.core.clock import SystemClock
from safeship.metrics.promql import Engine
from safeship.metrics.scrape import Scraper
from safeship.metrics.store import SeriesStore
from safeship.server.app import create_app
from safeship.testing import FakeClock, free_port
from safeship.wiring.readiness import (
    ControlPlaneReadiness,
    Facts,
    GroupFacts,
    StoreProbe,
    TargetFacts,
    judge,
)

NOW = 1_000.0
SCRAPED = TargetFacts("http://a/metrics", 10.0, 5.0, last_scrape_s=NOW - 3)
NEVER = TargetFacts("http://b/metrics", 10.0, 5.0, last_scrape_s=None)
STUCK = TargetFacts("http://c/metrics", 10.0, 5.0, last_scrape_s=NOW - 26)
ON_TIME = GroupFacts("g", 60.0, due_s=NOW + 10, last_evaluation_s=NOW - 50)
OVERDUE = GroupFacts("g", 60.0, due_s=NOW - 61, last_evaluation_s=NOW - 121)


def facts(**changes: object) -> Facts:
    base: dict[str, object] = {
        "now_s": NOW,
        "scraping": True,
        "targets": (SCRAPED,),
        "groups": (ON_TIME,),
        "store_error": None,
    }
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("observed", "reason"),
    [
        (facts(), None),
        (facts(store_error="connection refused"), "state database unreachable"),
        (facts(scraping=False), "scrape loop is stopped"),
        (facts(targets=(SCRAPED, NEVER)), "has not completed a round of http://b/metrics"),
        (facts(targets=(STUCK,)), "stuck: http://c/metrics last scraped 26s ago"),
        (facts(groups=(OVERDUE,)), "rule group g evaluation is overdue by 61s"),
        (facts(replaying=True), "the WAL is being replayed"),
    ],
)
def test_each_reason_not_to_be_ready_is_named(observed: Facts, reason: str | None) -> None:
    found = judge(observed)
    if reason is None:
        assert found == []
    else:
        assert len(found) == 1 and reason in found[0], found


def test_a_removed_sqlite_folder_is_unready_and_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    probe = StoreProbe(f"sqlite:///{folder}/state.db")
    assert probe.error() is None
    shutil.rmtree(folder)
    assert probe.error() == "unable to open database file"
    folder.mkdir()
    assert probe.error() is None


def test_a_dead_postgresql_is_unready() -> None:
    probe = StoreProbe(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    error = probe.error()
    assert error is not None and "refused" in error.lower(), error


def test_a_stopped_scrape_loop_is_unready_and_a_restarted_one_recovers() -> None:
    async def scenario() -> list[list[str]]:
        scraper = Scraper(SeriesStore(), clock=SystemClock())
        dead = f"http://127.0.0.1:{free_port()}/metrics"  # a completed scrape, up 0
        scraper.set_urls("job", [(dead, {})], interval=0.1, timeout=0.05)
        ready = ControlPlaneReadiness(scraper=scraper, rules=None, stores=[], clock=SystemClock())
        seen = [await ready.reasons()]
        await scraper.start()
        for _ in range(50):
            if not await ready.reasons():
                break
            await asyncio.sleep(0.02)
        seen.append(await ready.reasons())
        await scraper.stop()
        seen.append(await ready.reasons())
        return seen

    before, running, stopped = asyncio.run(scenario())
    assert "the scrape loop is stopped" in before
    assert running == []
    assert stopped == ["the scrape loop is stopped"]


def test_an_overdue_rule_evaluation_answers_503_until_it_runs() -> None:
    clock = FakeClock()
    store = SeriesStore()
    group = RuleGroup.model_validate({"name": "g", "interval": "1m", "rules": []})
    rules = RuleManager(
        [LoadedGroup(group, "r.yml")], engine=Engine(store), store=store, clock=clock
    )
    scraper = Scraper(store, clock=clock)
    ready = ControlPlaneReadiness(scraper=scraper, rules=rules, stores=[], clock=clock)
    app = create_app(
        engine=Engine(store),
        store=store,
        clock=clock,
        registry=CollectorRegistry(),
        ready=ready.reasons,
    )
    asyncio.run(scraper.start())  # no targets: nothing to wait for
    client = TestClient(app)
    rules.evaluate_due()
    assert client.get("/health/readiness").json() == {"status": "ok"}
    clock.advance(125)  # two intervals without an evaluation
    answer = client.get("/health/readiness")
    assert answer.status_code == 503
    assert answer.json()["reasons"] == ["rule group g evaluation is overdue by 65s"]
    rules.evaluate_due()
    assert client.get("/health/readiness").status_code == 200

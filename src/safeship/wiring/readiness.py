"""Is the control plane ready to be trusted? What `/health/readiness` answers.

Where it sits: `wiring/serve.py` hands `ControlPlaneReadiness.reasons` to the HTTP app. Each
call observes once (the scraper's loops, each rule group's schedule, one fresh connection
to the state database) into an immutable `Facts`, and the pure `judge` turns that into the
reasons it is not ready; none means ready. Reasons are: the store is unreachable, the
series store's WAL is still being replayed, the scrape loop is stopped, has not completed
a round or is stuck, or a rule group's evaluation is overdue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from safeship.alerting.manager import RuleManager
from safeship.core.clock import Clock
from safeship.metrics.scrape import Scraper
from safeship.store.engine import create_engine

STORE_TIMEOUT_S = 2.0  # a probe must answer well within a kubelet's default 1-10 s


@dataclass(frozen=True)
class TargetFacts:
    url: str
    interval_s: float
    timeout_s: float
    last_scrape_s: float | None  # start of the last completed scrape


@dataclass(frozen=True)
class GroupFacts:
    name: str
    interval_s: float
    due_s: float
    last_evaluation_s: float | None


@dataclass(frozen=True)
class Facts:
    now_s: float
    scraping: bool
    targets: tuple[TargetFacts, ...]
    groups: tuple[GroupFacts, ...]
    store_error: str | None
    replaying: bool = False


def judge(facts: Facts) -> list[str]:
    """Why the control plane is not ready (empty: ready). Pure."""
    found = [f"state database unreachable: {facts.store_error}"] if facts.store_error else []
    if facts.replaying:
        found.append("the WAL is being replayed")
    if not facts.scraping:
        found.append("the scrape loop is stopped")
    found += [r for t in facts.targets if (r := _scrape_problem(t, facts.now_s))]
    found += [r for g in facts.groups if (r := _rules_problem(g, facts.now_s))]
    return found


def _scrape_problem(target: TargetFacts, now_s: float) -> str | None:
    if target.last_scrape_s is None:
        return f"the scrape loop has not completed a round of {target.url} yet"
    late = now_s - target.last_scrape_s
    if late > 2 * target.interval_s + target.timeout_s:
        return (
            f"the scrape loop is stuck: {target.url} last scraped {late:.0f}s ago,"
            f" every {target.interval_s:g}s"
        )
    return None


def _rules_problem(group: GroupFacts, now_s: float) -> str | None:
    if group.last_evaluation_s is None and now_s - group.due_s > group.interval_s:
        return f"rule group {group.name} has not been evaluated yet"
    overdue = now_s - group.due_s
    if overdue > group.interval_s:
        return f"rule group {group.name} evaluation is overdue by {overdue:.0f}s"
    return None


class StoreProbe:
    """A fresh connection to the state database per check: a pooled one would survive the
    database going away (SQLite keeps a deleted file open), so the pool is emptied first."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)  # creates a SQLite folder once, never again

    def error(self) -> str | None:
        """None when `SELECT 1` answers on a new connection, else why not (one line)."""
        self._engine.dispose()
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
        return None


class ControlPlaneReadiness:
    """Observes the running parts; `reasons()` is what `/health/readiness` asks."""

    def __init__(
        self,
        *,
        scraper: Scraper,
        rules: RuleManager | None,
        stores: Sequence[StoreProbe],
        clock: Clock,
        replaying: Callable[[], bool] = lambda: False,
    ) -> None:
        self._scraper, self._rules, self._stores, self._clock = scraper, rules, stores, clock
        self._replaying = replaying

    async def reasons(self) -> list[str]:
        return judge(await self.observe())

    async def observe(self) -> Facts:
        store_error = await self._store_error()
        health = self._scraper.health()
        targets = tuple(
            TargetFacts(t.url, t.interval, t.timeout, health[t.url].last_scrape)
            for t in self._scraper.targets()
        )
        groups = tuple(
            GroupFacts(s.loaded.group.name, s.interval_s, s.due_s, s.last_evaluation_s)
            for s in (self._rules.groups() if self._rules else [])
        )
        running = self._scraper.running
        return Facts(self._clock.now(), running, targets, groups, store_error, self._replaying())

    async def _store_error(self) -> str | None:
        for probe in self._stores:
            try:
                error = await asyncio.wait_for(asyncio.to_thread(probe.error), STORE_TIMEOUT_S)
            except TimeoutError:
                error = f"no answer within {STORE_TIMEOUT_S:g}s"
            if error:
                return error
        return None

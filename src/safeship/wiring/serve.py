"""Wiring of `safeship serve`: the control plane's store, scraper, engine, rules, history, API.

Where it sits: it builds the signal path of the data flow ("scrape /metrics ─▶ metric store
─▶ alert rules", and the rollups kept for history) from a `ControlPlaneConfig`, and hands the
pieces to the HTTP app (`server/app.py`), with /api/v1 over the state store (`server/api.py`).
It decides nothing: a store fed by `scrape_configs`, the rule manager evaluating `rule_files`
over it, and the app under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from safeship.alerting.defaults import control_plane_groups
from safeship.alerting.manager import AlertMemory, RuleManager
from safeship.alerting.templates import Env
from safeship.config.metrics import ControlPlaneConfig
from safeship.config.models import SafeshipConfig
from safeship.core.addresses import http_url, split_host_port
from safeship.core.clock import Clock
from safeship.core.durations import parse_duration
from safeship.events.pipeline import EventHub
from safeship.events.storage import EventStorage
from safeship.incidents.manager import IncidentManager
from safeship.metrics.promql import Engine
from safeship.metrics.remote_in import RemoteWriteReceiver
from safeship.metrics.retention import (
    HistoryReader,
    RetentionPolicy,
    RollupWriter,
    open_history,
)
from safeship.metrics.rollups import Rollup
from safeship.metrics.scrape import Scraper
from safeship.metrics.store import SeriesStore
from safeship.rollout.metrics import RolloutCollector
from safeship.store.engine import default_url
from safeship.store.leadership import Elector
from safeship.store.repository import Store
from safeship.wiring.agent_stack import AgentHome
from safeship.wiring.audit_watch import AuditWatch
from safeship.wiring.control import Controller
from safeship.wiring.leader import Leading, start_leadership
from safeship.wiring.notifications import alert_pipeline, check_escalations
from safeship.wiring.readiness import ControlPlaneReadiness, StoreProbe
from safeship.wiring.remote_write import remote_write_queues, run_queues
from safeship.wiring.wal import StoreLog, wal_directory

if TYPE_CHECKING:
    import uvicorn


@dataclass
class ControlPlane:
    config: ControlPlaneConfig
    store: SeriesStore
    scraper: Scraper
    engine: Engine
    registry: CollectorRegistry


def build(config: ControlPlaneConfig, *, clock: Clock) -> ControlPlane:
    embedded = config.metrics.source.embedded_or_default
    store = SeriesStore(retention=embedded.retention)
    scraper = Scraper(store, clock=clock, configs=config.scrape_configs)
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return ControlPlane(config, store, scraper, Engine(store), registry)


@dataclass(frozen=True)
class Tls:
    """The certificate and key uvicorn serves HTTPS with (PEM files)."""

    cert: str
    key: str


async def serve(
    config: ControlPlaneConfig,
    *,
    clock: Clock,
    listen: str | None = None,
    tls: Tls | None = None,
) -> None:
    """Run the control plane until cancelled (SIGINT/SIGTERM stop uvicorn)."""
    from safeship.server.analytics_api import mount_analytics
    from safeship.server.api import mount_api  # FastAPI: only to serve
    from safeship.server.app import create_app, http_server

    if listen is not None:  # --listen wins, for links ($externalURL, runbooks) too
        config = config.model_copy(update={"listen": listen})
    plane = build(config, clock=clock)
    host, port = split_host_port(config.listen)
    rules = rule_manager(plane, clock=clock)
    wal = store_log(plane)
    readiness = ControlPlaneReadiness(
        scraper=plane.scraper,
        rules=rules,
        stores=store_probes(config),
        clock=clock,
        replaying=wal.replaying,
    )
    app = create_app(
        engine=plane.engine,
        store=plane.store,
        clock=clock,
        registry=plane.registry,
        ready=readiness.reasons,
        rules=rules,
        history=history_reader(config),
    )
    state = Store.open(default_url(), clock=clock)
    election, elector = start_leadership(default_url(), registry=plane.registry, clock=clock)
    leading = Leading(elector)
    controller = control_plane(
        config, store=state, clock=clock, elector=elector, registry=plane.registry
    )
    alerting = None  # rules ─▶ dispatcher ─▶ outbox ─▶ receivers; a bad file stops serve here
    if config.alertmanager_config is not None and rules is not None:
        alerting = alert_pipeline(
            Path(config.alertmanager_config),
            store=state,
            rules=rules,
            clock=clock,
            registry=plane.registry,
            external_url=config.public_url,
            leading=leading,
        )
    check_escalations(
        config.incidents,
        alerting.receivers if alerting else None,
        config=config.alertmanager_config,
    )
    incidents = IncidentManager(
        config.incidents,
        store=state,
        clock=clock,
        alerts=rules.alerts if rules else None,
        notify=alerting.outbox.submit if alerting else None,
        scaler=controller,
    )
    receiver = RemoteWriteReceiver(plane.store, replaying=wal.replaying, registry=plane.registry)
    mount_api(
        app,
        store=state,
        clock=clock,
        incidents=incidents,
        remote_write=receiver,
        control=controller,
    )
    events = event_hub(plane, clock=clock)
    mount_analytics(app, hub=events, store=state, clock=clock)
    server = http_server(
        app,
        host=host,
        port=port,
        tls_cert=tls.cert if tls else None,
        tls_key=tls.key if tls else None,
    )
    # Under TLS the scraper would not trust our certificate: no self-scrape then.
    self_target = (server, host, port) if tls is None else None
    work = asyncio.get_running_loop().create_task(
        _after_replay(
            plane,
            wal,
            rules,
            incidents,
            clock=clock,
            self_target=self_target,
            events=events,
            alerting=alerting.jobs if alerting else None,
        )
    )
    work.add_done_callback(lambda done: _stop_on_failure(done, server))
    audit = AuditWatch(state, registry=plane.registry, clock=clock)
    background = [*election, asyncio.get_running_loop().create_task(audit.run())]
    if controller is not None:
        background.append(asyncio.get_running_loop().create_task(controller.run()))
    try:
        await server.serve()
    finally:
        for task in [work, *background]:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        if rules is not None:
            rules.close()
        wal.close()
        events.storage.close()
        state.close()


def control_plane(
    config: ControlPlaneConfig,
    *,
    store: Store,
    clock: Clock,
    elector: Elector | None,
    registry: CollectorRegistry,
) -> Controller | None:
    """The reconcilers of safeship.yaml's `services` on this machine's agent, or None; the
    rollouts they drive are exported on serve's /metrics (`safeship_rollout_*`)."""
    if not isinstance(config, SafeshipConfig) or not config.services:
        return None
    controller = Controller(
        config, store=store, clock=clock, home=AgentHome.default(), elector=elector
    )
    RolloutCollector(controller.views, registry=registry, clock=clock.now)
    return controller


async def _after_replay(
    plane: ControlPlane,
    wal: StoreLog,
    rules: RuleManager | None,
    incidents: IncidentManager,
    *,
    clock: Clock,
    self_target: tuple[uvicorn.Server, str, int] | None,
    events: EventHub | None = None,
    alerting: Callable[[], list[Coroutine[Any, Any, None]]] | None = None,
) -> None:
    """Replay the WAL, and only then scrape, evaluate rules and roll up: a scrape first
    would interleave new samples with old ones, an evaluation first would resolve alerts.
    Event windows are restored after the replay too, then event sources start."""
    await wal.replay()
    queues = remote_write_queues(
        plane.config.remote_write,
        log=wal,
        store=plane.store,
        clock=clock,
        registry=plane.registry,
    )
    if events is not None:
        await asyncio.to_thread(events.restore)
    async with plane.scraper:
        jobs = [wal.keep_checkpoints(clock=clock), run_queues(queues)]
        if events is not None:
            jobs.extend([events.keep(), *event_sources(events, clock=clock)])
        if self_target is not None:
            jobs.append(_scrape_self(plane, *self_target))
        if plane.config.history.enabled:
            jobs.append(keep_history(plane, clock=clock))
        if rules is not None:
            jobs.append(rules.run())
        if alerting is not None:  # after the replay, like the rules that feed it
            jobs.extend(alerting())
        if incidents.spec.definitions:  # alerts ─▶ incidents ─▶ actions, next to the rules
            jobs.append(incidents.run())
        await asyncio.gather(*jobs)


def _stop_on_failure(done: asyncio.Task[None], server: uvicorn.Server) -> None:
    if not done.cancelled() and done.exception() is not None:
        server.should_exit = True  # `await work` in serve() raises it


def event_hub(plane: ControlPlane, *, clock: Clock) -> EventHub:
    """Every event stream of safeship.yaml (or the default HTTP one) over the state database,
    writing its windows' series into the embedded store."""
    storage = EventStorage.open(default_url())
    return EventHub(plane.config.events, storage=storage, store=plane.store, clock=clock)


def event_sources(events: EventHub, *, clock: Clock) -> list[Coroutine[Any, Any, None]]:
    """A consumer per stream whose source is a broker (HTTP streams need none)."""
    from safeship.events import kafka_source, nats_source  # their clients: only to serve

    jobs: list[Coroutine[Any, Any, None]] = []
    for pipeline in events.pipelines.values():
        source = pipeline.spec.source
        if source.nats is not None:
            jobs.append(nats_source.consume(pipeline, source.nats, clock=clock))
        if source.kafka is not None:
            jobs.append(kafka_source.consume(pipeline, source.kafka, clock=clock))
    return jobs


def store_log(plane: ControlPlane) -> StoreLog:
    """The embedded store's WAL as safeship.yaml sets it (`metrics.source.embedded.wal`)."""
    embedded = plane.config.metrics.source.embedded_or_default
    return StoreLog(
        plane.store,
        embedded.wal,
        directory=wal_directory(embedded.wal, default_url()),
        retention_s=embedded.retention,
        registry=plane.registry,
    )


def rule_manager(plane: ControlPlane, *, clock: Clock) -> RuleManager | None:
    """The manager of `rule_files`, the default rules and the SLOs' rules
    (alerting/defaults.py) with the alert state of the state database, or None.

    Like the rollups it runs on the event loop thread: rules read and write the same
    in-memory store the scraper appends to.
    """
    groups = control_plane_groups(plane.config)
    if not groups:
        return None
    return RuleManager(
        groups,
        engine=plane.engine,
        store=plane.store,
        clock=clock,
        default_interval_s=plane.config.evaluation_interval,
        memory=AlertMemory.open(default_url()),
        for_grace_period_s=plane.config.for_grace_period,
        template_env=Env(external_url=plane.config.public_url),
    )


def store_probes(config: ControlPlaneConfig) -> list[StoreProbe]:
    """The state databases serve writes to: alert state and, when kept, the history's."""
    rules = config.rule_files or config.default_rules or config.slos
    urls = [default_url()] if rules or config.history.enabled else []
    if config.history.enabled and config.history.database:
        urls.append(config.history.database)
    return [StoreProbe(url) for url in dict.fromkeys(urls)]


def history_reader(config: ControlPlaneConfig) -> HistoryReader | None:
    """The rollup reader the API falls back to for data older than the store, or None."""
    history = config.history
    if not history.enabled:
        return None
    tiers = sorted(int(parse_duration(k)) for k in history.tiers)
    return HistoryReader(open_history(history.database or default_url()), resolutions_s=tiers)


async def keep_history(plane: ControlPlane, *, clock: Clock) -> None:
    """Roll finished buckets up into the state database and prune expired ones, forever.

    It runs on the event loop thread on purpose: the scraper appends to the same store, and
    a rollup of the last minute is cheap next to a scrape round (see bench/rollups.py).
    """
    history = plane.config.history
    embedded = plane.config.metrics.source.embedded_or_default
    policy = RetentionPolicy.parse(hot=f"{embedded.retention}s", tiers=history.tiers)
    writer = RollupWriter(open_history(history.database or default_url()))
    rollup = Rollup(plane.store, writer, clock=clock, resolutions_s=policy.resolutions_s)
    while True:
        rollup.run()
        writer.prune(policy, now_s=clock.now())
        await clock.sleep(rollup.due_in())


async def _scrape_self(plane: ControlPlane, server: uvicorn.Server, host: str, port: int) -> None:
    """safeship is a target of its own once it answers (a scrape before would read `up` 0)."""
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    url = http_url(host, port, "/metrics")
    plane.scraper.set_urls("safeship", [(url, {})], interval=plane.config.self_scrape_interval)

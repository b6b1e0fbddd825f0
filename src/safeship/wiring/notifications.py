"""Wiring of notification delivery: the outbox worker over the state database, with one
notifier per integration of the receivers of an Alertmanager config file.

Where it sits: "routes ─▶ notifications" (DESIGN §2), the sending end. `delivery` builds
the worker (and the `Outbox` sink routing submits to) for whoever runs it: `safeship
notifications deliver` runs it alone, in the foreground, until stopped; `safeship serve`
runs `alert_pipeline` (rule manager ─▶ dispatcher ─▶ outbox ─▶ worker) in its own process,
so a submission wakes the worker at once. It decides nothing; alerting/grouping.py routes,
alerting/delivery.py delivers and alerting/delivery_policy.py decides about retries.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from sqlalchemy.exc import SQLAlchemyError

from safeship.alerting.am_config_files import load_alertmanager_config
from safeship.alerting.delivery import DeliverySettings, DeliveryWorker, Outbox
from safeship.alerting.dispatcher import POLL_S, Dispatcher
from safeship.alerting.grouping import LOG_RETENTION_MS
from safeship.alerting.manager import RuleManager
from safeship.alerting.notification import Notification
from safeship.alerting.notifiers.apprise_urls import SEND_TIMEOUT_S as APPRISE_S
from safeship.alerting.notifiers.factory import build
from safeship.alerting.receivers import AlertmanagerConfig, Receiver, Receivers, WebhookConfig
from safeship.alerting.silence_book import SilenceBook
from safeship.config.documents import load_model
from safeship.config.incidents import IncidentsSpec
from safeship.core.addresses import split_host_port
from safeship.core.clock import Clock
from safeship.core.errors import ConfigError, ConfigIssue, UsageError
from safeship.core.secrets import scrub
from safeship.store.notification_log import LogRecord
from safeship.store.repository import Store

log = logging.getLogger(__name__)


def load_receivers(path: Path) -> dict[str, Receiver]:
    """The `receivers:` of the Alertmanager config at `path`; ConfigError names file:line:key."""
    return load_model(path, Receivers).by_name()


@dataclass
class DeliveryParts:
    outbox: Outbox
    worker: DeliveryWorker


def delivery(
    store: Store,
    receivers: dict[str, Receiver],
    *,
    clock: Clock,
    registry: CollectorRegistry,
    settings: DeliverySettings,
    external_url: str,
    environ: Mapping[str, str] | None = None,
    journal: Callable[[Sequence[Notification]], Sequence[LogRecord]] | None = None,
) -> DeliveryParts:
    """The sink routing submits to and the worker that empties it, on the same store;
    `${NAME}` in apprise URLs is read from `environ` (this process's by default); `journal`
    gives the notification log entries the outbox persists with each submission."""
    _check_hold(receivers, settings)
    env = os.environ if environ is None else environ
    notifiers = build(receivers, external_url=external_url, environ=env)
    worker = DeliveryWorker(store, notifiers, clock=clock, registry=registry, settings=settings)
    return DeliveryParts(Outbox(store, receivers, wake=worker.wake, journal=journal), worker)


def alert_pipeline(
    config: Path,
    *,
    store: Store,
    rules: RuleManager,
    clock: Clock,
    registry: CollectorRegistry,
    external_url: str,
    leading: Callable[[], bool] = lambda: True,
    settings: DeliverySettings | None = None,
) -> AlertPipeline:
    """The outbox, and what makes the jobs that take `rules`' alerts to the receivers of
    the Alertmanager config at `config`: the dispatcher (only while `leading`) and the
    delivery worker.

    The file is read twice, one verdict each: routing's model (`amtool check-config`'s) and
    delivery's receivers, which refuse an integration safeship cannot send (slack_configs,
    ...) at file:line:key with the apprise URL to use; either raises ConfigError here, so
    `serve` refuses to start rather than drop notifications in silence."""
    routing = load_alertmanager_config(config)
    receivers = load_receivers(config)
    book = SilenceBook(store)
    dispatcher = Dispatcher(routing, silences=lambda: book.list(include_expired=False))
    built = delivery(
        store,
        receivers,
        clock=clock,
        registry=registry,
        settings=settings or DeliverySettings(),
        external_url=external_url,
        journal=dispatcher.logged,
    )

    def jobs() -> list[Coroutine[object, object, None]]:
        outbox = built.outbox
        dispatch = _dispatch(dispatcher, rules, outbox, store=store, clock=clock, leading=leading)
        return [dispatch, built.worker.run()]

    return AlertPipeline(built.outbox, receivers, jobs)


@dataclass
class AlertPipeline:
    outbox: Outbox  # incidents' escalations to a receiver are submitted here too
    receivers: dict[str, Receiver]
    jobs: Callable[[], list[Coroutine[object, object, None]]]


def check_escalations(
    spec: IncidentsSpec, receivers: Mapping[str, Receiver] | None, *, config: str | None
) -> None:
    """Every `escalate.receiver` names a receiver of the Alertmanager config; ConfigError."""
    issues = []
    for index, definition in enumerate(spec.definitions):
        name = definition.escalate.receiver if definition.escalate else None
        if name is not None and (receivers is None or name not in receivers):
            key = f"incidents.definitions[{index}].escalate.receiver"
            expected = f"a receiver of {config}" if config else "alertmanager_config set"
            issues.append(ConfigIssue("safeship.yaml", None, key, name, expected))
    if issues:
        raise ConfigError(issues)


async def _dispatch(
    dispatcher: Dispatcher,
    rules: RuleManager,
    outbox: Outbox,
    *,
    store: Store,
    clock: Clock,
    leading: Callable[[], bool],
) -> None:
    """Poll the rule manager and route while this process leads; on taking the lead, start
    from the persisted notification log (another leader may have written it meanwhile)."""
    led = False
    while True:
        wait = POLL_S
        if not leading():
            led = False
        else:
            try:
                if not led:
                    records = await asyncio.to_thread(_log_of, store, clock.now())
                    dispatcher.restore(records, now=clock.now())
                    led = True
                wait = dispatcher.poll(rules, outbox, now=clock.now())
            except SQLAlchemyError as exc:  # the database is down: the round is undone
                log.warning("routing the alerts failed, trying again: %s", scrub(str(exc)))
                wait = 1.0
        await clock.sleep(wait)


def _log_of(store: Store, now: float) -> list[LogRecord]:
    oldest = round(now * 1000) - LOG_RETENTION_MS
    with store.transaction() as tx:
        tx.prune_notification_log(before_ms=oldest)
        return tx.notification_log(since_ms=oldest)


async def deliver(
    config: Path,
    *,
    db_url: str,
    clock: Clock,
    settings: DeliverySettings,
    external_url: str,
    metrics_listen: str | None = None,
) -> None:
    """Deliver what the outbox holds, and whatever is submitted later, until cancelled."""
    receivers = load_receivers(config)
    registry = CollectorRegistry()
    if metrics_listen is not None:
        host, port = split_host_port(metrics_listen)
        start_http_server(port, addr=host, registry=registry)
    with Store.open(db_url, clock=clock) as store:
        built = delivery(
            store,
            receivers,
            clock=clock,
            registry=registry,
            settings=settings,
            external_url=external_url,
        )
        await built.worker.run()


def _check_hold(receivers: Mapping[str, Receiver], settings: DeliverySettings) -> None:
    """A claim must outlast any send: a row claimed again while its first send still runs
    would be sent twice without a crash."""
    timeouts = [
        config.timeout if isinstance(config, WebhookConfig | AlertmanagerConfig) else APPRISE_S
        for receiver in receivers.values()
        for _, config in receiver.integrations()
    ]
    longest = max(timeouts, default=0.0)
    if settings.hold_s <= longest:
        raise UsageError(
            f"the claim hold ({settings.hold_s:g}s) must be longer than the longest send"
            f" timeout ({longest:g}s): raise --hold or lower the timeout"
        )

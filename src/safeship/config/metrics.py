"""The user's language for signals: where analysis queries go, what to scrape, how to compare.

Where it sits: `config/models.py` hooks `CompareSpec` into each analysis metric and
`MetricsSpec` into the rollout spec's optional `metrics:` section; `safeship serve` reads a
whole `ControlPlaneConfig` from safeship.yaml. `scrape_configs` keep Prometheus' own
snake_case keys (config/scrape.py) so a job can be pasted from prometheus.yml.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    SecretStr,
    model_validator,
)

from safeship.config.base import Duration, ListenAddress, Model
from safeship.config.condition import ConditionError, parse_condition
from safeship.config.events import EventsSpec
from safeship.config.incidents import IncidentsSpec
from safeship.config.remote_write import RemoteWriteConfig
from safeship.config.scrape import ScrapeConfig
from safeship.config.slo import SloSpec
from safeship.core.addresses import http_url, split_host_port
from safeship.core.durations import parse_duration
from safeship.core.secrets import shown

CompareTest = Literal["relative", "mannWhitney", "proportions", "sequential"]


def _http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s):// URL, found {text!r}")
    return text.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class CompareSpec(Model):
    """Canary against baseline (the stable pool's series) instead of a fixed threshold.

    relative: % regression of the value allowed; mannWhitney: latency samples (from the
    histogram) with a confidence and an allowed median increase; proportions: two-proportion
    test on error rates; sequential: anytime-valid test on errors (success rate) or latency.
    """

    test: CompareTest
    direction: Literal["increase", "decrease"] | None = None  # which way is worse
    max_regression_pct: Annotated[float, Field(ge=0)] = 10.0
    abs_tolerance: Annotated[float, Field(ge=0)] = 0.0
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    allowed_increase_pct: Annotated[float, Field(ge=0)] = 10.0
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01


class WalSpec(Model):
    """The embedded store's write-ahead log (`safeship serve` only): `fsync: 0s` syncs every
    batch; otherwise a power cut loses at most that much, a killed process nothing."""

    enabled: bool = True
    dir: str | None = None  # None: `wal/` next to the SQLite state database, or ./.safeship/wal
    fsync: Annotated[Duration, Field(le=60)] = 1.0


class EmbeddedSourceSpec(Model):
    """The embedded series store, fed by safeship's own scraper."""

    scrape_interval: Duration = 1.0
    retention: Duration = 3600.0
    wal: WalSpec = WalSpec()


# A password or token: a literal or a `${NAME}` reference, masked in every dump and repr, and
# resolved (and registered as a secret) only where it is used (core/secrets.py).
SecretValue = Annotated[
    SecretStr, PlainSerializer(lambda s: shown(s.get_secret_value()), return_type=str)
]


class BasicAuth(Model):
    username: str
    password: SecretValue


class TlsSpec(Model):
    """Client TLS to a Prometheus: a CA bundle, a client certificate, or no verification."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TlsSpec:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("expected both 'certFile' and 'keyFile', or neither")
        return self


class PrometheusSourceSpec(Model):
    """A Prometheus-compatible server: its base URL (a path prefix is kept, so a safeship
    serve at http://host:8470/prometheus works) and how to authenticate to it."""

    url: HttpUrl
    bearer_token: SecretValue | None = None
    basic_auth: BasicAuth | None = None
    tls: TlsSpec | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSourceSpec:
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("expected one of 'bearerToken' or 'basicAuth', found both")
        return self


def _prometheus(value: object) -> object:
    """`prometheus: URL` is short for `prometheus: {url: URL}`."""
    return {"url": value} if isinstance(value, str) else value


class MetricsSourceSpec(Model):
    """Exactly one of `embedded: {...}` or `prometheus: URL | {url, bearerToken, ...}`."""

    embedded: EmbeddedSourceSpec | None = None
    prometheus: Annotated[PrometheusSourceSpec, BeforeValidator(_prometheus)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> MetricsSourceSpec:
        if self.embedded is not None and self.prometheus is not None:
            raise ValueError("expected one of 'embedded' or 'prometheus', found both")
        return self

    @property
    def embedded_or_default(self) -> EmbeddedSourceSpec:
        return self.embedded or EmbeddedSourceSpec()


class MetricsSpec(Model):
    """A rollout spec's `metrics:` section: where every analysis query is answered."""

    source: MetricsSourceSpec = MetricsSourceSpec()


class HistorySpec(Model):
    """Rollups of the embedded store kept in the state database (hot = raw, in memory)."""

    enabled: bool = True
    database: str | None = None  # None: the state database ($SAFESHIP_DB or ./.safeship)
    tiers: dict[str, str] = Field(default_factory=lambda: {"1m": "7d", "5m": "90d", "1h": "1y"})


class ControlPlaneConfig(Model):
    """safeship.yaml for `safeship serve`."""

    listen: ListenAddress = "127.0.0.1:8470"
    metrics: MetricsSpec = MetricsSpec()
    scrape_configs: list[ScrapeConfig] = Field(default=[], alias="scrape_configs")
    self_scrape_interval: Duration = 15.0
    history: HistorySpec = HistorySpec()
    events: EventsSpec = EventsSpec()  # event streams into windowed series (events/)
    # Prometheus's own keys: globs of rule files, relative to safeship.yaml, and the
    # interval of every group that sets none.
    rule_files: list[str] = Field(default=[], alias="rule_files")
    evaluation_interval: Annotated[Duration, Field(gt=0)] = Field(60.0, alias="evaluation_interval")
    # Prometheus' --rules.alert.for-grace-period: after a restart, a pending alert gets at
    # least this long (or its whole `for`, when shorter) before it may fire.
    for_grace_period: Duration = Field(600.0, alias="for_grace_period")
    incidents: IncidentsSpec = IncidentsSpec()  # alerts → incidents → actions (config/incidents.py)
    # Service level objectives (config/slo.py), turned into rules by alerting/slo.py.
    slos: list[SloSpec] = Field(default=[])
    # safeship's packaged rules for what it runs (alerting/default_rules.yaml); false: none.
    default_rules: bool = Field(True, alias="default_rules")
    # Prometheus' --web.external-url: where people and links reach serve (e.g. behind a
    # proxy); templates' $externalURL and runbook links. None: http://<listen>.
    external_url: HttpUrl | None = Field(None, alias="external_url")
    # Where `runbook_url` annotations point: <runbook_url>/<alert>.md. None: serve's own
    # copy of docs/runbooks, <external_url>/runbooks (see runbooks_url).
    runbook_url: HttpUrl | None = Field(None, alias="runbook_url")
    # Prometheus' own block: where serve pushes its samples (read back from the WAL).
    remote_write: list[RemoteWriteConfig] = Field(default=[], alias="remote_write")
    # An alertmanager.yml (relative to safeship.yaml): serve routes the alerts its rules fire
    # and delivers them to its receivers (docs/alerting.md, "From rule to receiver in serve").
    alertmanager_config: str | None = Field(None, alias="alertmanager_config", min_length=1)

    @property
    def public_url(self) -> str:
        """`external_url`, or serve's listen address (localhost when it listens on every
        address: set `external_url` for links that work elsewhere), no trailing slash."""
        if self.external_url is not None:
            return self.external_url
        host, port = split_host_port(self.listen)
        return http_url("localhost" if host in _WILDCARD_HOSTS else host, port)

    @property
    def runbooks_url(self) -> str:
        """The base of every default `runbook_url`: the configured one or serve's /runbooks."""
        return self.runbook_url if self.runbook_url is not None else f"{self.public_url}/runbooks"

    @model_validator(mode="after")
    def _unique_jobs(self) -> ControlPlaneConfig:
        jobs = [c.job_name for c in self.scrape_configs]
        twice = sorted({j for j in jobs if jobs.count(j) > 1})
        if twice:
            raise ValueError(f"expected unique job_name values, found {', '.join(twice)} twice")
        return self

    @model_validator(mode="after")
    def _unique_slos(self) -> ControlPlaneConfig:
        names = [s.name for s in self.slos]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"expected unique SLO names, found {', '.join(twice)} twice")
        return self

    @model_validator(mode="after")
    def _remote_write_has_a_wal(self) -> ControlPlaneConfig:
        """Queues read the WAL (so an outage loses nothing): it must be on, names unique."""
        if self.remote_write and not self.metrics.source.embedded_or_default.wal.enabled:
            raise ValueError("expected metrics.source.embedded.wal enabled: remote_write reads it")
        names = [q.queue_name for q in self.remote_write]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"expected unique remote_write names, found {', '.join(twice)} twice")
        return self

    @model_validator(mode="after")
    def _history_fits(self) -> ControlPlaneConfig:
        """Rollups are computed from raw samples: the widest must fit in the hot window."""
        hot = self.metrics.source.embedded_or_default.retention
        widest = max((parse_duration(k) for k in self.history.tiers), default=0.0)
        if self.history.enabled and hot < widest:
            raise ValueError(
                f"expected metrics retention >= the widest history tier ({widest:g}s),"
                f" found {hot:g}s: it is shorter than the widest rollup"
            )
        return self


class _JudgedMetric(Protocol):
    @property
    def builtin(self) -> str | None: ...
    @property
    def query(self) -> str | None: ...
    @property
    def fail_if(self) -> str | None: ...
    @property
    def success_if(self) -> str | None: ...
    @property
    def compare(self) -> CompareSpec | None: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...


# Which built-in each statistical test needs: it reads counts or a histogram, not a value.
_TEST_NEEDS = {
    "proportions": ("request-success-rate",),
    "sequential": ("request-success-rate", "request-duration-p99"),
    "mannWhitney": ("request-duration-p99",),
}


def metric_problem(m: _JudgedMetric) -> str | None:
    """What is wrong with an analysis metric's shape, or None."""
    if (m.builtin is None) == (m.query is None):
        return "expected exactly one of 'builtin' or 'query'"
    if m.compare is not None:
        needs = _TEST_NEEDS.get(m.compare.test)
        if needs and m.builtin not in needs:
            return f"expected builtin {' or '.join(needs)} for compare test {m.compare.test!r}"
        return None
    if m.builtin is not None and m.min is None and m.max is None:
        return "expected a threshold: 'min' or 'max' (or both)"
    if m.query is not None and m.fail_if is None and m.success_if is None:
        return "expected 'failIf' or 'successIf' (or 'compare') for a query metric"
    return _condition_problem(m.fail_if, "failIf") or _condition_problem(m.success_if, "successIf")


def _condition_problem(text: str | None, key: str) -> str | None:
    try:
        if text is not None:
            parse_condition(text)
    except ConditionError as exc:
        return f"{key}: {exc}"
    return None

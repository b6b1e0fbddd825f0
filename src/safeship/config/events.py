"""The `events:` section of safeship.yaml: streams of service events and how to read them.

Where it sits: `config/metrics.py` hooks `EventsSpec` into `ControlPlaneConfig`; the event
pipeline (events/) reads each stream's `source` (http, nats or kafka) and its `fields`
(dotted paths into every event: id, service, timestamp, level or status, latency, numeric
values, labels, version). Each field path is checked here, so a mistake is reported at its
file, line and key when safeship.yaml is loaded, never while events flow.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from safeship.config.base import Duration, Model
from safeship.core.durations import parse_duration

_PATH = re.compile(r"^[A-Za-z_@$][\w@$-]*(\.[A-Za-z_@$0-9][\w@$-]*)*$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_PART = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = ("service", "version", "quantile", "__name__")


def _path(text: str) -> str:
    if not _PATH.match(text):
        raise ValueError(f"expected a dotted field path such as 'http.latency_ms', found {text!r}")
    return text


FieldPath = Annotated[str, AfterValidator(_path)]
LatencyUnit = Literal["s", "ms", "us", "ns"]
UNIT_SECONDS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class HttpSource(Model):
    """Events POSTed to /api/v1/analytics/events?stream=NAME (an `ingest` token)."""


class NatsSource(Model):
    """A JetStream durable pull consumer; a message is acked once its window is stored."""

    url: str = "nats://127.0.0.1:4222"
    stream: Annotated[str, Field(min_length=1)]
    subject: Annotated[str, Field(min_length=1)]
    durable: Annotated[str, Field(min_length=1)] = "safeship"
    batch: Annotated[int, Field(ge=1, le=100_000)] = 1000  # messages per fetch
    ack_wait: Annotated[Duration, Field(gt=0)] = 30.0  # unacked messages come again after


class KafkaSource(Model):
    """A Kafka consumer group; offsets are committed once the windows are stored."""

    bootstrap_servers: Annotated[str, Field(min_length=1)]
    topic: Annotated[str, Field(min_length=1)]
    group: Annotated[str, Field(min_length=1)] = "safeship"
    batch: Annotated[int, Field(ge=1, le=100_000)] = 1000  # messages per poll
    session_timeout: Annotated[Duration, Field(ge=1, le=3600)] = (
        45.0  # a dead member's partitions move after
    )


class SourceSpec(Model):
    """Exactly one of `http: {}`, `nats: {...}`, `kafka: {...}`."""

    http: HttpSource | None = None
    nats: NatsSource | None = None
    kafka: KafkaSource | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        kinds = [k for k in ("http", "nats", "kafka") if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            expected = "exactly one source kind (http, nats or kafka)"
            raise ValueError(f"expected {expected}, found {found}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("http", "nats", "kafka") if getattr(self, k) is not None)


class FieldsSpec(Model):
    """Where each part of an event is, as a dotted path into its JSON object."""

    id: FieldPath | None = "id"  # de-duplication within the grace horizon; None: none
    service: FieldPath = "service"
    timestamp: FieldPath = "timestamp"  # unix seconds, milliseconds, or RFC 3339 text
    level: FieldPath | None = "level"  # an error when its value is one of error_levels
    error_levels: list[str] = Field(default_factory=lambda: ["error", "fatal", "critical"])
    status: FieldPath | None = None  # an error when >= error_status (an HTTP status)
    error_status: Annotated[int, Field(ge=100, le=999)] = 500
    latency: FieldPath | None = "latency_ms"
    latency_unit: LatencyUnit = "ms"
    values: list[FieldPath] = Field(default_factory=list)  # numeric: mean and max per window
    labels: dict[str, FieldPath] = Field(default_factory=dict)  # label name → field path
    version: FieldPath | None = "version"  # the `version` label, to tell a canary apart

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not _LABEL.match(name) or name in RESERVED_LABELS:
                raise ValueError(
                    f"expected label names like 'region' (not {', '.join(RESERVED_LABELS)}),"
                    f" found {name!r}"
                )
        return labels

    @field_validator("values")
    @classmethod
    def _value_names(cls, values: list[str]) -> list[str]:
        for path in values:
            if not _METRIC_PART.match(value_name(path)):
                raise ValueError(f"expected a value path ending in a metric name, found {path!r}")
        return values


def value_name(path: str) -> str:
    """The metric name part for a numeric value: its last path segment."""
    return path.rsplit(".", 1)[-1]


def _stream_name(text: str) -> str:
    if not _NAME.match(text):
        raise ValueError(f"expected a stream name like 'payments', found {text!r}")
    return text


class StreamSpec(Model):
    name: Annotated[str, AfterValidator(_stream_name)]
    source: SourceSpec = SourceSpec(http=HttpSource())
    fields: FieldsSpec = FieldsSpec()


def _tiers(value: dict[str, str]) -> dict[str, str]:
    known = {60.0: "1m", 300.0: "5m", 3600.0: "1h"}
    for resolution, keep in value.items():
        if parse_duration(resolution) not in known:
            raise ValueError(f"expected tiers 1m, 5m and 1h, found {resolution!r}")
        if parse_duration(keep) < parse_duration(resolution):
            raise ValueError(f"expected {resolution} kept at least {resolution}, found {keep!r}")
    return value


class EventsSpec(Model):
    """Every event stream, and what all of them share: lateness, limits, retention."""

    streams: list[StreamSpec] = Field(default_factory=list)
    grace: Annotated[Duration, Field(le=3600)] = 120.0  # late events still count
    future_skew: Duration = 60.0  # timestamps further ahead are dead-lettered
    max_batch_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    max_batch_events: Annotated[int, Field(ge=1)] = 100_000
    max_series: Annotated[int, Field(ge=1)] = 10_000  # label sets per stream
    dead_letters: Annotated[int, Field(ge=0)] = 10_000  # newest kept with their reason
    relative_accuracy: Annotated[float, Field(gt=0, lt=0.5)] = 0.01  # of latency quantiles
    retention: Annotated[dict[str, str], AfterValidator(_tiers)] = Field(
        default_factory=lambda: {"1m": "1d", "5m": "7d", "1h": "30d"}
    )

    @model_validator(mode="after")
    def _unique(self) -> EventsSpec:
        names = [s.name for s in self.streams]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"expected unique stream names, found {', '.join(twice)} twice")
        return self

    @property
    def retention_s(self) -> dict[int, float]:
        """Resolution (s) → how long its windows are kept (s)."""
        return {int(parse_duration(k)): parse_duration(v) for k, v in self.retention.items()}

    def stream(self, name: str | None) -> StreamSpec | None:
        """The stream called `name`; with no name, the first HTTP stream (or the default)."""
        streams = self.streams or [DEFAULT_STREAM]
        if name is None:
            return next((s for s in streams if s.source.http is not None), None)
        return next((s for s in streams if s.name == name), None)


DEFAULT_STREAM = StreamSpec(name="default")

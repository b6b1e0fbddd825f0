"""Reading events: one stream's field paths applied to decoded JSON objects, pure.

Where it sits: first step of "event sources ─▶ windows" (DESIGN §2). A source hands over
decoded objects; `Reader.read` turns each into a row of columns (`Batch`) or a `Malformed`
with the reason, so a bad event is counted and dead-lettered and never stops the batch. The
paths come from the stream's `fields` (config/events.py), resolved once per stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safeship.config.events import UNIT_SECONDS, FieldsSpec, value_name
from safeship.core.labels import Labels

MAX_LABEL_CHARS = 128
_MISSING = object()


@dataclass(frozen=True)
class Malformed:
    """An event refused, the reason said in words a person can act on."""

    reason: str
    event: Any


@dataclass
class Batch:
    """Accepted events as aligned columns (one position per event)."""

    ids: list[str | None] = field(default_factory=list)
    series: list[Labels] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    errors: list[bool] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds; NaN: none given
    values: list[tuple[float, ...]] = field(default_factory=list)  # NaN: not given

    def __len__(self) -> int:
        return len(self.times)


def _split(path: str | None) -> tuple[str, ...] | None:
    return None if path is None else tuple(path.split("."))


def _get(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = event
    for part in path:
        if not isinstance(node, dict):
            return _MISSING
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


def timestamp_seconds(value: Any) -> float | None:
    """Unix seconds from seconds, milliseconds (above 1e11), or RFC 3339 text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return seconds if math.isfinite(seconds) and seconds > 0 else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo is not None else None
    return None


class Reader:
    """One stream's schema, compiled: `read(objects, now)` → (Batch, [Malformed])."""

    def __init__(self, fields: FieldsSpec, *, future_skew_s: float) -> None:
        self._id = _split(fields.id)
        self._service = tuple(fields.service.split("."))
        self._time = tuple(fields.timestamp.split("."))
        self._level = _split(fields.level)
        self._error_levels = frozenset(x.lower() for x in fields.error_levels)
        self._status = _split(fields.status)
        self._error_status = fields.error_status
        self._latency = _split(fields.latency)
        self._unit = UNIT_SECONDS[fields.latency_unit]
        self._values = [tuple(p.split(".")) for p in fields.values]
        self._labels = [(name, tuple(p.split("."))) for name, p in fields.labels.items()]
        if fields.version is not None:
            self._labels.append(("version", tuple(fields.version.split("."))))
        self._skew = future_skew_s
        self.value_names = tuple(value_name(p) for p in fields.values)

    def read(self, objects: Iterable[Any], *, now: float) -> tuple[Batch, list[Malformed]]:
        batch, bad = Batch(), []
        for event in objects:
            problem = self._one(event, batch, now) if isinstance(event, dict) else None
            if problem is not None or not isinstance(event, dict):
                bad.append(Malformed(problem or "expected a JSON object", event))
        return batch, bad

    def _one(self, event: dict[str, Any], batch: Batch, now: float) -> str | None:
        """Append `event` to `batch`, or say why not (then nothing is appended)."""
        service = _get(event, self._service)
        if not isinstance(service, str) or not service or len(service) > MAX_LABEL_CHARS:
            return f"expected a service name at '{'.'.join(self._service)}'"
        seconds = timestamp_seconds(_get(event, self._time))
        if seconds is None:
            return f"expected a timestamp at '{'.'.join(self._time)}'"
        if seconds > now + self._skew:
            return f"timestamp {seconds:.3f} is ahead of the clock by more than {self._skew:g}s"
        event_id = None
        if self._id is not None:
            raw_id = _get(event, self._id)
            if isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
                event_id = str(raw_id)
        latency = math.nan
        if self._latency is not None:
            raw = _get(event, self._latency)
            if raw is not _MISSING and raw is not None:
                if not _number(raw) or raw < 0:
                    return f"expected a latency >= 0 at '{'.'.join(self._latency)}'"
                latency = raw * self._unit
        values = []
        for path in self._values:
            raw = _get(event, path)
            if raw is _MISSING or raw is None:
                values.append(math.nan)
            elif _number(raw):
                values.append(float(raw))
            else:
                return f"expected a number at '{'.'.join(path)}'"
        labels = [("service", service)]
        for name, path in self._labels:
            raw = _get(event, path)
            if isinstance(raw, str | int) and not isinstance(raw, bool) and raw != "":
                text = str(raw)
                if len(text) > MAX_LABEL_CHARS:
                    return f"expected label {name} under {MAX_LABEL_CHARS} characters"
                labels.append((name, text))
        batch.ids.append(event_id)
        batch.series.append(tuple(sorted(labels)))
        batch.times.append(seconds)
        batch.errors.append(self._is_error(event))
        batch.latencies.append(latency)
        batch.values.append(tuple(values))
        return None

    def _is_error(self, event: dict[str, Any]) -> bool:
        if self._level is not None:
            level = _get(event, self._level)
            if isinstance(level, str) and level.lower() in self._error_levels:
                return True
        if self._status is not None:
            status = _get(event, self._status)
            if isinstance(status, str) and status.isdigit():
                status = int(status)
            if _number(status) and status >= self._error_status:
                return True
        return False


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

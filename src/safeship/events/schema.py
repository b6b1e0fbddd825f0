"""Reading events: one stream's field paths applied to decoded JSON objects, pure.

Where it sits: first step of "event sources ─▶ windows" (DESIGN §2). A source hands over
decoded objects; `Reader.read` turns each into a row of columns (`Batch`) or a `Malformed`
with the reason, so a bad event is counted and dead-lettered and never stops the batch. The
paths come from the stream's `fields` (config/events.py), resolved once per stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from safeship.config.events import UNIT_SECONDS, FieldsSpec, value_name
from safeship.core.labels import Labels

MAX_LABEL_CHARS = 128
Floats = npt.NDArray[np.float64]
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
        self._id = _getter(fields.id)
        self._service, self._service_path = _getter(fields.service), fields.service
        self._time, self._time_path = _getter(fields.timestamp), fields.timestamp
        self._level = _getter(fields.level)
        self._error_levels = frozenset(x.lower() for x in fields.error_levels)
        self._status = _getter(fields.status) if fields.status is not None else None
        self._error_status = fields.error_status
        self._latency, self._latency_path = _getter(fields.latency), fields.latency
        self._unit = UNIT_SECONDS[fields.latency_unit]
        self._values = [(p, _required(p)) for p in fields.values]
        names = [*fields.labels, *(["version"] if fields.version is not None else [])]
        paths = [*fields.labels.values(), *([fields.version] if fields.version else [])]
        self._label_names = ["service", *names]
        self._label_getters = [_required(p) for p in paths]
        self._series: dict[tuple[str | None, ...], Labels] = {}
        self._skew = future_skew_s
        self._fields = fields
        self.value_names = tuple(value_name(p) for p in fields.values)

    def read(self, objects: Iterable[Any], *, now: float) -> tuple[Batch, list[Malformed]]:
        events = objects if type(objects) is list else list(objects)
        fast = self._columns(events, now) if len(events) > 1 else None
        if fast is not None:
            return fast, []
        batch, bad = Batch(), []
        for event in events:
            problem = self._one(event, batch, now) if type(event) is dict else None
            if problem is not None or type(event) is not dict:
                bad.append(Malformed(problem or "expected a JSON object", event))
        return batch, bad

    def _one(self, event: dict[str, Any], batch: Batch, now: float) -> str | None:
        """Append `event` to `batch`, or say why not (then nothing is appended).

        The hot path of every source: type checks are exact (`type(x) is ...`) and field
        access is one closure per path, so a typical event costs a few microseconds."""
        service = self._service(event)
        if type(service) is not str or not service or len(service) > MAX_LABEL_CHARS:
            return f"expected a service name at '{self._service_path}'"
        raw_time = self._time(event)
        if type(raw_time) is float or type(raw_time) is int:
            seconds: float | None = raw_time / 1000.0 if raw_time > 1e11 else float(raw_time)
            if not 0 < seconds < math.inf:  # type: ignore[operator]
                seconds = None
        else:
            seconds = timestamp_seconds(raw_time)
        if seconds is None:
            return f"expected a timestamp at '{self._time_path}'"
        if seconds > now + self._skew:
            return f"timestamp {seconds:.3f} is ahead of the clock by more than {self._skew:g}s"
        latency = self._latency(event)
        if latency is None or latency is _MISSING:
            latency = math.nan
        elif _number(latency) and latency >= 0:
            latency = latency * self._unit
        else:
            return f"expected a latency >= 0 at '{self._latency_path}'"
        values = self._numbers(event) if self._values else ()
        if isinstance(values, str):
            return values
        key = (service, *[_label(get(event)) for get in self._label_getters])
        series = self._series.get(key) or self._labelled(key)
        if isinstance(series, str):
            return series
        raw_id = self._id(event)
        batch.ids.append(raw_id if type(raw_id) is str else _text_id(raw_id))
        batch.series.append(series)
        batch.times.append(seconds)
        batch.errors.append(self._is_error(event))
        batch.latencies.append(latency)
        batch.values.append(values)
        return None

    def _columns(self, events: list[Any], now: float) -> Batch | None:
        """The batch read column by column (a few C-speed passes per field instead of Python
        work per event), or None unless every event is a well-formed object of the usual
        types: then `_one` reads each, giving the same batch and the reason for each refusal."""
        if set(map(type, events)) != {dict}:
            return None
        fields = self._fields
        services = _column(events, fields.service)
        if set(map(type, services)) != {str}:
            return None
        raw_times = _column(events, fields.timestamp)
        if not set(map(type, raw_times)) <= {float, int}:
            return None
        try:
            raw = np.asarray(raw_times, dtype=np.float64)
        except (OverflowError, ValueError):
            return None
        seconds = np.where(raw > 1e11, raw / 1000.0, raw)
        if not ((seconds > 0) & (seconds < math.inf)).all() or (seconds > now + self._skew).any():
            return None
        latencies = _numbers(events, fields.latency, at_least_zero=True)
        values = [_numbers(events, path, at_least_zero=False) for path, _ in self._values]
        if latencies is None or any(v is None for v in values):
            return None
        labels = [_labels(_column(events, path)) for path in self._label_paths()]
        keys = list(zip(services, *labels, strict=True))
        found: dict[tuple[str | None, ...], Labels] = {}
        for key in set(keys):
            service = key[0]
            if not service or len(service) > MAX_LABEL_CHARS:
                return None
            series = self._series.get(key) or self._labelled(key)
            if isinstance(series, str):
                return None
            found[key] = series
        batch = Batch()
        batch.ids = _ids(_column(events, fields.id)) if fields.id else [None] * len(events)
        batch.series = list(map(found.__getitem__, keys))
        batch.times = seconds.tolist()
        batch.errors = self._errors(events)
        batch.latencies = (latencies * self._unit).tolist()
        batch.values = (
            list(zip(*(v.tolist() for v in values if v is not None), strict=True))
            if values
            else [()] * len(events)
        )
        return batch

    def _label_paths(self) -> list[str]:
        fields = self._fields
        return [*fields.labels.values(), *([fields.version] if fields.version else [])]

    def _errors(self, events: list[dict[str, Any]]) -> list[bool]:
        if self._status is not None:
            return [self._is_error(e) for e in events]
        if self._fields.level is None:
            return [False] * len(events)
        levels = _column(events, self._fields.level)
        if not set(map(type, levels)) <= {str, type(None)}:
            return [self._is_error(e) for e in events]
        error = {x: x.lower() in self._error_levels for x in set(levels) if x is not None}
        error[None] = False
        return list(map(error.__getitem__, levels))

    def _numbers(self, event: dict[str, Any]) -> tuple[float, ...] | str:
        values = []
        for path, get in self._values:
            raw = get(event)
            if raw is _MISSING or raw is None:
                values.append(math.nan)
            elif _number(raw):
                values.append(float(raw))
            else:
                return f"expected a number at '{path}'"
        return tuple(values)

    def _labelled(self, key: tuple[str | None, ...]) -> Labels | str:
        """The label set of a new combination of label values (then cached)."""
        pairs = [(n, v) for n, v in zip(self._label_names, key, strict=True) if v is not None]
        for name, value in pairs:
            if len(value) > MAX_LABEL_CHARS:
                return f"expected label {name} under {MAX_LABEL_CHARS} characters"
        if len(self._series) < 100_000:  # the aggregator caps series; this caps the cache
            self._series[key] = tuple(sorted(pairs))
        return tuple(sorted(pairs))

    def _is_error(self, event: dict[str, Any]) -> bool:
        level = self._level(event)
        if type(level) is str and level.lower() in self._error_levels:
            return True
        if self._status is None:
            return False
        status = self._status(event)
        if type(status) is str and status.isdigit():
            status = int(status)
        return _number(status) and status >= self._error_status


def _getter(path: str | None) -> Callable[[dict[str, Any]], Any]:
    """A function reading `path` from an event: _MISSING when absent (None: never there)."""
    if path is None:
        return lambda _event: _MISSING
    return _required(path)


def _required(path: str) -> Callable[[dict[str, Any]], Any]:
    parts = tuple(path.split("."))
    if len(parts) == 1:
        key = parts[0]
        return lambda event: event.get(key, _MISSING)
    return lambda event: _get(event, parts)


def _column(events: list[dict[str, Any]], path: str) -> list[Any]:
    """The value at `path` of every event, None where absent (the same as null for every
    field `_one` reads)."""
    if "." not in path:
        return [e.get(path) for e in events]
    parts = tuple(path.split("."))
    return [None if x is _MISSING else x for x in (_get(e, parts) for e in events)]


def _numbers(
    events: list[dict[str, Any]], path: str | None, *, at_least_zero: bool
) -> Floats | None:
    """The numbers at `path` (NaN where absent or null), or None when one is not a finite
    number (>= 0 if `at_least_zero`; `_one` then says which)."""
    if path is None:
        return np.full(len(events), math.nan)
    column = _column(events, path)
    if not set(map(type, column)) <= {float, int, type(None)}:
        return None
    try:
        numbers = np.asarray(column, dtype=np.float64)  # null → NaN
    except (OverflowError, ValueError):
        return None
    if np.count_nonzero(~np.isfinite(numbers)) != column.count(None):
        return None
    if at_least_zero and (numbers < 0).any():
        return None
    return numbers


def _labels(column: list[Any]) -> list[str | None]:
    if set(map(type, column)) <= {str, type(None)}:
        return [x or None for x in column] if "" in column else column
    return [_label(x) for x in column]


def _ids(column: list[Any]) -> list[str | None]:
    if set(map(type, column)) <= {str, type(None)}:
        return column
    return [x if type(x) is str else _text_id(x) for x in column]


def _label(raw: Any) -> str | None:
    if type(raw) is str:
        return raw or None
    if type(raw) is int:
        return str(raw)
    return None


def _text_id(raw: Any) -> str | None:
    return str(raw) if type(raw) is int else None


def _number(value: Any) -> bool:
    return (type(value) is float or type(value) is int) and math.isfinite(value)

"""Event windows in the state database (SQLite or PostgreSQL): written before any ack,
read back on restart, rolled up, pruned by tier, and queried by the analytics API.

Where it sits: the "memory" end of the event path. `save` writes a batch's changed 1m
windows, the ids it counted and its dead letters in ONE transaction: a source acks only
after it returns, so an event is either durably counted (and its id known, so a redelivery
is a duplicate) or not at all. 5m and 1h windows are merges of their stored children
(`roll_up`), done once a bucket is past the grace period and recorded by a mark in the same
transaction, so a crash repeats a roll-up instead of counting twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from safeship.core.labels import Labels, get
from safeship.events.schema import Malformed
from safeship.events.windows import MINUTE, Window, merge
from safeship.store.engine import READ_ONLY, create_engine
from safeship.store.migrate import upgrade_to_head
from safeship.store.upsert import dialect_insert

MAX_DEAD_LETTER_CHARS = 2048
PARENT = {300: 60, 3600: 300}  # each roll-up and the resolution it merges

metadata = sa.MetaData()
event_windows = sa.Table(
    "event_windows",
    metadata,
    sa.Column("resolution_s", sa.Integer(), nullable=False),
    sa.Column("stream", sa.String(64), nullable=False),
    sa.Column("labels", sa.String(2048), nullable=False),
    sa.Column("start", sa.BigInteger(), nullable=False),
    sa.Column("service", sa.String(128), nullable=False),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.Column("errors", sa.BigInteger(), nullable=False),
    *(sa.Column(name, sa.Double()) for name in ("p50", "p95", "p99", "latency_max")),
    sa.Column("state", sa.Text(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint("resolution_s", "stream", "labels", "start"),
)
event_ids = sa.Table(
    "event_ids",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("stream", sa.String(64), nullable=False),
    sa.Column("start", sa.BigInteger(), nullable=False),
    sa.Column("ids", sa.Text(), nullable=False),
)
event_dead_letters = sa.Table(
    "event_dead_letters",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("stream", sa.String(64), nullable=False),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("event", sa.Text(), nullable=False),
)
event_rollup_marks = sa.Table(
    "event_rollup_marks",
    metadata,
    sa.Column("stream", sa.String(64), nullable=False),
    sa.Column("resolution_s", sa.Integer(), nullable=False),
    sa.Column("through", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("stream", "resolution_s"),
)


@dataclass(frozen=True)
class WindowRow:
    """One stored window as the API shows it (no sketch)."""

    stream: str
    service: str
    labels: dict[str, str]
    resolution_s: int
    start: int
    count: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None
    latency_max: float | None


@dataclass(frozen=True)
class Availability:
    """A service's events over a range: how many, how many failed, the share that did not."""

    service: str
    since: int
    until: int
    resolution_s: int
    count: int
    errors: int

    @property
    def availability(self) -> float | None:
        return None if self.count == 0 else 1.0 - self.errors / self.count


def labels_text(labels: Labels) -> str:
    return orjson.dumps([list(p) for p in labels]).decode()


def _labels(text: str) -> Labels:
    return tuple((str(k), str(v)) for k, v in orjson.loads(text))


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


class EventStorage:
    """The event tables of one state database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> EventStorage:
        engine = create_engine(url)
        upgrade_to_head(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------
    def save(
        self,
        stream: str,
        windows: Sequence[Window],
        *,
        ids: dict[int, list[str]],
        dead: Sequence[Malformed],
        now: float,
    ) -> None:
        """Windows, counted ids and dead letters of one batch, all or nothing."""
        with self.engine.begin() as conn:
            self._upsert(conn, stream, windows, now=now)
            if ids:
                rows = [
                    {"stream": stream, "start": s, "ids": orjson.dumps(v).decode()}
                    for s, v in ids.items()
                ]
                conn.execute(sa.insert(event_ids), rows)
            if dead:
                conn.execute(
                    sa.insert(event_dead_letters), [_dead_row(stream, m, now) for m in dead]
                )

    def _upsert(
        self, conn: Connection, stream: str, windows: Sequence[Window], *, now: float
    ) -> None:
        if not windows:
            return
        rows = [_window_row(stream, w, now) for w in windows]
        stmt = dialect_insert(conn, event_windows)
        keys = ("resolution_s", "stream", "labels", "start")
        updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)

    def roll_up(self, stream: str, *, now: float, grace_s: float) -> int:
        """Merge finished 1m windows into 5m, and 5m into 1h; returns the windows written."""
        written = 0
        for resolution, child in PARENT.items():
            with self.engine.begin() as conn:
                written += self._roll_up(conn, stream, resolution, child, now=now, grace_s=grace_s)
        return written

    def _roll_up(
        self,
        conn: Connection,
        stream: str,
        resolution: int,
        child: int,
        *,
        now: float,
        grace_s: float,
    ) -> int:
        # A bucket is final once its last child window is: its end plus the grace period.
        final = int(now - grace_s - MINUTE) // resolution * resolution
        mark = conn.execute(
            sa.select(event_rollup_marks.c.through).where(
                event_rollup_marks.c.stream == stream,
                event_rollup_marks.c.resolution_s == resolution,
            )
        ).scalar()
        frm = mark if mark is not None else self._oldest(conn, stream, child)
        if frm is None or frm >= final:
            return 0
        frm = int(frm) // resolution * resolution
        children = list(self._windows(conn, stream, child, frm, final))
        rolled = merge(children, resolution_s=resolution)
        self._upsert(conn, stream, rolled, now=now)
        stmt = dialect_insert(conn, event_rollup_marks).values(
            stream=stream, resolution_s=resolution, through=final
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["stream", "resolution_s"], set_={"through": final}
            )
        )
        return len(rolled)

    def _oldest(self, conn: Connection, stream: str, resolution: int) -> int | None:
        query = sa.select(sa.func.min(event_windows.c.start)).where(
            event_windows.c.stream == stream, event_windows.c.resolution_s == resolution
        )
        found = conn.execute(query).scalar()
        return None if found is None else int(found)

    def prune(
        self, *, retention_s: dict[int, float], now: float, grace_s: float, dead_letters: int
    ) -> int:
        """Delete windows past their tier, ids past the grace horizon, old dead letters."""
        deleted = 0
        with self.engine.begin() as conn:
            for resolution, keep in retention_s.items():
                deleted += conn.execute(
                    event_windows.delete().where(
                        event_windows.c.resolution_s == resolution,
                        event_windows.c.start < int(now - keep),
                    )
                ).rowcount
            horizon = int(now - MINUTE - grace_s) - MINUTE
            conn.execute(event_ids.delete().where(event_ids.c.start < horizon))
            newest = conn.execute(sa.select(sa.func.max(event_dead_letters.c.id))).scalar()
            if newest is not None:
                conn.execute(
                    event_dead_letters.delete().where(
                        event_dead_letters.c.id <= newest - dead_letters
                    )
                )
        return deleted

    # -- reading ---------------------------------------------------------------------------
    def open_windows(self, stream: str, *, since: int) -> list[Window]:
        """The 1m windows starting at or after `since`: what a restart takes back."""
        with self._reading() as conn:
            return list(self._windows(conn, stream, MINUTE, since, None))

    def seen_ids(self, stream: str, *, since: int) -> list[tuple[int, list[str]]]:
        query = sa.select(event_ids.c.start, event_ids.c.ids).where(
            event_ids.c.stream == stream, event_ids.c.start >= since
        )
        with self._reading() as conn:
            return [(int(start), list(orjson.loads(ids))) for start, ids in conn.execute(query)]

    def _windows(
        self, conn: Connection, stream: str, resolution: int, frm: int, to: int | None
    ) -> Iterator[Window]:
        t = event_windows.c
        query = sa.select(t.labels, t.start, t.count, t.errors, t.state).where(
            t.stream == stream, t.resolution_s == resolution, t.start >= frm
        )
        if to is not None:
            query = query.where(t.start < to)
        for labels, start, count, errors, state in conn.execute(query):
            yield Window.decode(
                _labels(labels),
                resolution,
                int(start),
                count=int(count),
                errors=int(errors),
                state=orjson.loads(state),
            )

    def rows(
        self, *, service: str | None, resolution_s: int, frm: int, to: int, limit: int = 100_000
    ) -> list[WindowRow]:
        """Stored windows of one resolution in [frm, to), oldest first."""
        t = event_windows.c
        query = (
            sa.select(
                t.stream,
                t.service,
                t.labels,
                t.start,
                t.count,
                t.errors,
                t.p50,
                t.p95,
                t.p99,
                t.latency_max,
            )
            .where(t.resolution_s == resolution_s, t.start >= frm, t.start < to)
            .order_by(t.start)
            .limit(limit)
        )
        if service is not None:
            query = query.where(t.service == service)
        with self._reading() as conn:
            rows = conn.execute(query).all()
            return [
                WindowRow(
                    stream,
                    service_,
                    dict(_labels(labels)),
                    resolution_s,
                    int(start),
                    int(count),
                    int(errors),
                    p50,
                    p95,
                    p99,
                    top,
                )
                for stream, service_, labels, start, count, errors, p50, p95, p99, top in rows
            ]

    def availability(
        self, service: str, *, resolution_s: int, since: int, until: int
    ) -> Availability:
        t = event_windows.c
        query = sa.select(
            sa.func.coalesce(sa.func.sum(t.count), 0), sa.func.coalesce(sa.func.sum(t.errors), 0)
        ).where(
            t.resolution_s == resolution_s, t.service == service, t.start >= since, t.start < until
        )
        with self._reading() as conn:
            count, errors = conn.execute(query).one()
        return Availability(service, since, until, resolution_s, int(count), int(errors))

    def services(self, *, since: int) -> list[tuple[str, int, int]]:
        """(service, events, errors) over the 1m windows since `since`."""
        t = event_windows.c
        query = (
            sa.select(t.service, sa.func.sum(t.count), sa.func.sum(t.errors))
            .where(t.resolution_s == MINUTE, t.start >= since)
            .group_by(t.service)
            .order_by(t.service)
        )
        with self._reading() as conn:
            return [(s, int(c), int(e)) for s, c, e in conn.execute(query)]

    def dead_letters(self, *, limit: int = 100) -> list[dict[str, Any]]:
        t = event_dead_letters.c
        query = (
            sa.select(t.id, t.stream, t.at, t.reason, t.event).order_by(t.id.desc()).limit(limit)
        )
        with self._reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def dead_letter_count(self) -> int:
        with self._reading() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(event_dead_letters)).scalar()
                or 0
            )

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.execution_options(**{READ_ONLY: True}).begin():
            yield conn


def _window_row(stream: str, w: Window, now: float) -> dict[str, Any]:
    q = w.quantiles() if w.latency.count else {}
    return {
        "resolution_s": w.resolution_s,
        "stream": stream,
        "labels": labels_text(w.series),
        "start": w.start,
        "service": get(w.series, "service"),
        "count": w.count,
        "errors": w.errors,
        "p50": _finite(q.get(0.5, float("nan"))),
        "p95": _finite(q.get(0.95, float("nan"))),
        "p99": _finite(q.get(0.99, float("nan"))),
        "latency_max": _finite(w.latency.max),
        "state": orjson.dumps(w.encode()).decode(),
        "updated_at": now,
    }


def _dead_row(stream: str, bad: Malformed, now: float) -> dict[str, Any]:
    try:
        text = orjson.dumps(bad.event).decode()
    except TypeError:
        text = repr(bad.event)
    return {
        "stream": stream,
        "at": now,
        "reason": bad.reason,
        "event": text[:MAX_DEAD_LETTER_CHARS],
    }


def finest_covering(retention_s: dict[int, float], span_s: float) -> int:
    """The finest resolution whose tier still holds a range of `span_s` seconds."""
    for resolution in sorted(retention_s):
        if retention_s[resolution] >= span_s:
            return resolution
    return max(retention_s)

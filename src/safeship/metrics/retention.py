"""Rollup history in the SQL store: hot / warm / cold tiers, the writer the Rollup job feeds,
pruning, and the reader that answers queries older than the in-memory (hot) window.

Raw samples stay in memory for the hot window; 1m rollups are the warm tier, 5m and 1h the
cold ones. Series are identified in SQL by a hash of their label set, so a restarted
process (with a new, empty SeriesStore) finds its history again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from safeship.core.durations import parse_duration
from safeship.core.labels import Labels
from safeship.metrics.index import LabelIndex, Matcher
from safeship.metrics.rollups import RESOLUTIONS_S, Buckets
from safeship.metrics.store import Floats, Ints, Series, SeriesStore
from safeship.store.engine import READ_ONLY, create_engine
from safeship.store.migrate import upgrade_to_head
from safeship.store.upsert import dialect_insert

DAY_S = 86_400.0
_ROWS_PER_BATCH = 100_000
_PG_ROWS_PER_STATEMENT = 500  # 5,000 parameters, far below PostgreSQL's 65,535
_CHUNK = 500  # ids per IN (...) list: well under every dialect's parameter limit
_VALUE_COLUMNS = ("count", "sum", "min", "max", "first", "last", "increase")

metadata = sa.MetaData()

metric_series = sa.Table(
    "metric_series",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("labels_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("labels", sa.JSON(), nullable=False),
)

# The primary key (resolution, series, bucket start) is both the upsert key and the index
# every range scan uses; resolution leads so that each tier is one contiguous key range
# (a catch-up run appends instead of interleaving tiers). No index by age: it halved write
# throughput, and pruning (rare) can afford a scan of each tier. Value columns are nullable
# because SQLite stores a NaN (e.g. +Inf + -Inf in a sum) as NULL.
metric_rollups = sa.Table(
    "metric_rollups",
    metadata,
    sa.Column("series_id", sa.Integer(), nullable=False),
    sa.Column("resolution_s", sa.Integer(), nullable=False),
    sa.Column("bucket_start", sa.BigInteger(), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("sum", sa.Double()),
    sa.Column("min", sa.Double()),
    sa.Column("max", sa.Double()),
    sa.Column("first", sa.Double()),
    sa.Column("last", sa.Double()),
    sa.Column("increase", sa.Double()),
    sa.PrimaryKeyConstraint("resolution_s", "series_id", "bucket_start"),
    sqlite_with_rowid=False,
)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each tier lives: raw in memory for `hot_s`, then rollups per resolution."""

    hot_s: float = 2 * 3600.0
    tiers: Mapping[int, float] = field(
        default_factory=lambda: {60: 7 * DAY_S, 300: 90 * DAY_S, 3600: 365 * DAY_S}
    )

    def __post_init__(self) -> None:
        # The 1h rollup is computed from raw samples, so they must outlive its bucket.
        widest = max(self.tiers, default=0)
        if self.hot_s < widest:
            raise ValueError(
                f"hot retention {self.hot_s:g}s is shorter than the widest rollup ({widest}s): "
                "raise hot retention or drop that resolution"
            )

    @classmethod
    def parse(cls, *, hot: str, tiers: Mapping[str, str]) -> RetentionPolicy:
        """From durations as users write them: hot="2h", tiers={"1m": "7d", "1h": "1y"}."""
        years = {k: v.replace("1y", "365d") for k, v in tiers.items()}
        return cls(
            hot_s=parse_duration(hot),
            tiers={int(parse_duration(k)): parse_duration(v) for k, v in years.items()},
        )

    @property
    def resolutions_s(self) -> tuple[int, ...]:
        return tuple(sorted(self.tiers))

    def cutoff_ms(self, resolution_s: int, now_s: float) -> int:
        """Buckets of `resolution_s` starting before this are expired."""
        return int((now_s - self.tiers[resolution_s]) * 1000)


def open_history(url: str) -> Engine:
    """An engine on the state database, migrated to head (the rollup tables included)."""
    engine = create_engine(url)
    upgrade_to_head(engine)
    return engine


def labels_hash(labels: Labels) -> str:
    return hashlib.sha256(_labels_json(labels).encode()).hexdigest()


def _labels_json(labels: Labels) -> str:
    return json.dumps([list(p) for p in labels], separators=(",", ":"))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for at in range(0, len(items), size):
        yield items[at : at + size]


# -- writing ---------------------------------------------------------------------------------
class RollupWriter:
    """The Rollup job's sink: idempotent upserts keyed by (series, resolution, bucket start)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ids: dict[Labels, int] = {}

    def write(self, buckets: Iterable[Buckets], *, labels_of: Callable[[int], Labels]) -> int:
        """Store every block of `buckets` in one transaction (store series ids resolved
        through `labels_of`); returns the rows written."""
        try:
            with self._engine.begin() as conn:
                return sum(self._write_block(conn, b, labels_of=labels_of) for b in buckets)
        except BaseException:
            self._ids.clear()  # ids learnt in the rolled-back transaction may not exist
            raise

    def _write_block(
        self, conn: Connection, block: Buckets, *, labels_of: Callable[[int], Labels]
    ) -> int:
        known = self._series_ids(conn, block.sids, labels_of=labels_of)
        sql_ids = np.asarray([known[s] for s in block.sids.tolist()], dtype=np.int64)
        # Rows go in key order, so the B-tree grows at its end instead of splitting pages
        # all over (a stable sort keeps each series' buckets in time order).
        order = np.argsort(sql_ids, kind="stable")
        # Row tuples are built a slice at a time: an hour of 100k series is 7M rows.
        for at in range(0, len(block), _ROWS_PER_BATCH):
            _execute_upsert(conn, _rows(block, sql_ids, order[at : at + _ROWS_PER_BATCH]))
        return len(block)

    def watermark(self, resolution_s: int) -> int | None:
        """End (ms) of the newest stored bucket of `resolution_s`, None if there is none."""
        query = sa.select(sa.func.max(metric_rollups.c.bucket_start)).where(
            metric_rollups.c.resolution_s == resolution_s
        )
        with _reading(self._engine) as conn:
            newest = conn.execute(query).scalar()
        return None if newest is None else int(newest) + resolution_s * 1000

    def prune(self, policy: RetentionPolicy, *, now_s: float) -> int:
        """Delete rollups older than their tier allows, then series left without any."""
        deleted = 0
        with self._engine.begin() as conn:
            for res in policy.resolutions_s:
                deleted += conn.execute(
                    metric_rollups.delete()
                    .where(metric_rollups.c.resolution_s == res)
                    .where(metric_rollups.c.bucket_start < policy.cutoff_ms(res, now_s))
                ).rowcount
            used = sa.select(metric_rollups.c.series_id).where(
                metric_rollups.c.series_id == metric_series.c.id
            )
            conn.execute(metric_series.delete().where(~sa.exists(used)))
        self._ids.clear()  # deleted series get new ids when they come back
        return deleted

    def _series_ids(
        self, conn: Connection, sids: Ints, *, labels_of: Callable[[int], Labels]
    ) -> dict[int, int]:
        unique = np.unique(sids).tolist()
        labels = {sid: labels_of(sid) for sid in unique}
        # New series are registered in store order, so SQL ids (and row keys) follow it.
        missing = [x for x in labels.values() if x not in self._ids]
        for chunk in _chunks(missing):
            self._register(conn, chunk)
        return {sid: self._ids[x] for sid, x in labels.items()}

    def _register(self, conn: Connection, labels: Sequence[Labels]) -> None:
        by_hash = {labels_hash(x): x for x in labels}
        rows = [{"labels_hash": h, "labels": [list(p) for p in x]} for h, x in by_hash.items()]
        conn.execute(dialect_insert(conn, metric_series).on_conflict_do_nothing(), rows)
        query = sa.select(metric_series.c.id, metric_series.c.labels_hash).where(
            metric_series.c.labels_hash.in_(list(by_hash))
        )
        for sql_id, digest in conn.execute(query):
            self._ids[by_hash[digest]] = int(sql_id)


def _rows(buckets: Buckets, sql_ids: Ints, take: Ints) -> list[tuple[Any, ...]]:
    values = [_nullable(getattr(buckets, c)[take]).tolist() for c in _VALUE_COLUMNS]
    resolution = [buckets.resolution_s] * take.size
    keys = (sql_ids[take].tolist(), resolution, buckets.starts_ms[take].tolist())
    return list(zip(*keys, *values, strict=True))


def _nullable(column: Ints | Floats) -> Any:
    # NaN is written as NULL on every dialect (SQLite would do so anyway), read back as NaN.
    if column.dtype.kind != "f" or not np.isnan(column).any():
        return column
    out = column.astype(object)
    out[np.isnan(column)] = None
    return out


def _execute_upsert(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The bulk upsert as driver-level SQL: millions of rows per hour of 100k series make
    SQLAlchemy's per-row parameter processing the bottleneck. SQLite re-runs one prepared
    single-row statement cheaply; PostgreSQL pays per statement, so it gets many rows each."""
    if conn.dialect.paramstyle == "qmark":
        conn.exec_driver_sql(_upsert_sql("?", 1), rows)
        return
    per = _PG_ROWS_PER_STATEMENT
    whole = len(rows) - len(rows) % per
    batches = [tuple(v for row in rows[at : at + per] for v in row) for at in range(0, whole, per)]
    if batches:
        conn.exec_driver_sql(_upsert_sql("%s", per), batches)
    if whole < len(rows):
        rest = rows[whole:]
        conn.exec_driver_sql(_upsert_sql("%s", len(rest)), tuple(v for r in rest for v in r))


@functools.cache
def _upsert_sql(mark: str, rows: int) -> str:
    names = ("series_id", "resolution_s", "bucket_start", *_VALUE_COLUMNS)
    quoted = [f'"{n}"' for n in names]
    updates = ", ".join(f"{q} = excluded.{q}" for q in quoted[3:])
    values = ", ".join([f"({', '.join([mark] * len(names))})"] * rows)
    return (
        f"INSERT INTO metric_rollups ({', '.join(quoted)}) VALUES {values} "
        f"ON CONFLICT (resolution_s, series_id, bucket_start) DO UPDATE SET {updates}"
    )


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    # Reads need not queue behind writers for SQLite's write lock.
    with engine.connect() as conn, conn.execution_options(**{READ_ONLY: True}).begin():
        yield conn


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RollupSeries:
    """One series' stored buckets in time order, each at the finest resolution available."""

    labels: Labels
    starts_ms: Ints
    resolution_s: Ints
    count: Ints
    sum: Floats
    min: Floats
    max: Floats
    first: Floats
    last: Floats
    increase: Floats

    def ends_ms(self) -> Ints:
        ends: Ints = self.starts_ms + self.resolution_s * 1000
        return ends


class HistoryReader:
    """Answers range reads from rollups: what the hot store no longer (or not yet) holds."""

    def __init__(self, engine: Engine, *, resolutions_s: Sequence[int] = RESOLUTIONS_S) -> None:
        self._engine = engine
        self._resolutions = tuple(sorted(resolutions_s))
        self._index = LabelIndex()
        self._sql_ids: list[int] = []  # by the reader's own series id
        self._newest = 0

    def refresh(self) -> None:
        """Load series registered since the last refresh (ids only grow, so only newer ones)."""
        query = sa.select(metric_series.c.id, metric_series.c.labels).where(
            metric_series.c.id > self._newest
        )
        with _reading(self._engine) as conn:
            for sql_id, pairs in conn.execute(query.order_by(metric_series.c.id)):
                local = self._index.ref(tuple((str(k), str(v)) for k, v in pairs))
                if local == len(self._sql_ids):
                    self._sql_ids.append(int(sql_id))
                else:  # pruned once, registered again under a new id
                    self._sql_ids[local] = int(sql_id)
                self._newest = int(sql_id)

    def buckets(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int
    ) -> list[RollupSeries]:
        """Matching series' buckets overlapping [start_ms, end_ms]; finer resolutions win,
        coarser ones fill in only before the finer data begins."""
        self.refresh()
        local = self._index.select(tuple(matchers)).tolist()
        by_sql = {self._sql_ids[i]: self._index.labels(i) for i in local}
        rows = self._fetch(list(by_sql), start_ms=start_ms, end_ms=end_ms)
        return [_stitch(by_sql[sid], rows[sid]) for sid in by_sql if rows.get(sid)]

    def select(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int, step_ms: int
    ) -> list[Series]:
        """Per series, the last value of each bucket stamped at the bucket's end, at most one
        point per step (the newest), in [start_ms, end_ms]: a gauge-like view of history."""
        found = []
        for rs in self.buckets(matchers, start_ms, end_ms):
            ends = rs.ends_ms()
            inside = (ends >= start_ms) & (ends <= end_ms)
            ends, last = ends[inside], rs.last[inside]
            slot = (ends - start_ms) // max(step_ms, 1)
            newest = np.append(slot[1:] != slot[:-1], True) if slot.size else slot.astype(bool)
            if newest.any():
                found.append(Series(rs.labels, ends[newest], last[newest]))
        return found

    def to_store(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int, step_ms: int
    ) -> SeriesStore:
        """`select` loaded into a SeriesStore, so the PromQL engine can run range queries over
        history older than the hot window: `Engine(reader.to_store(...)).range(...)`."""
        store = SeriesStore()
        for series in self.select(matchers, start_ms, end_ms, step_ms):
            ref = store.ref(series.labels)
            store.append_refs(np.full(series.values.size, ref), series.timestamps, series.values)
        return store

    def _fetch(
        self, sql_ids: list[int], *, start_ms: int, end_ms: int
    ) -> dict[int, list[tuple[Any, ...]]]:
        t = metric_rollups.c
        cols = [t.series_id, t.resolution_s, t.bucket_start, *(t[c] for c in _VALUE_COLUMNS)]
        widest_ms = max(self._resolutions, default=0) * 1000
        rows: dict[int, list[tuple[Any, ...]]] = {}
        with _reading(self._engine) as conn:
            for chunk in _chunks(sql_ids):
                query = (
                    sa.select(*cols)
                    .where(t.series_id.in_(chunk))
                    .where(t.resolution_s.in_(self._resolutions))
                    .where(t.bucket_start > start_ms - widest_ms)
                    .where(t.bucket_start <= end_ms)
                )
                for row in conn.execute(query):
                    if row[2] + row[1] * 1000 > start_ms:
                        rows.setdefault(int(row[0]), []).append(tuple(row))
        return rows


def _stitch(labels: Labels, rows: list[tuple[Any, ...]]) -> RollupSeries:
    chosen: list[tuple[Any, ...]] = []
    for res in sorted({r[1] for r in rows}):
        begins = min((r[2] for r in chosen), default=None)  # where finer data begins
        chosen.extend(
            r for r in rows if r[1] == res and (begins is None or r[2] + res * 1000 <= begins)
        )
    chosen.sort(key=lambda r: r[2])
    cols = list(zip(*chosen, strict=True))
    return RollupSeries(
        labels,
        np.asarray(cols[2], dtype=np.int64),
        np.asarray(cols[1], dtype=np.int64),
        np.asarray(cols[3], dtype=np.int64),
        *(np.asarray(c, dtype=np.float64) for c in cols[4:]),
    )

"""Reading the WAL as it grows, for remote write: a position, where it is kept, the tail.

Where it sits: "Wal ─▶ <wal dir>/segment-N ─▶ WalTail ─▶ RemoteWriteQueue"
(metrics/remote_out.py). A tail reads the sample records after a `Position` (segment, byte
offset) up to what the writer says is written (`Wal.position`), moves on to the next segment
at the end of one (a preallocated segment ends in zeros), and skips a segment deleted before
it was read. A segment's ref sets (metrics/wal_format.py) are carried from one read to the
next, and rebuilt when a tail starts in the middle of a segment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safeship.metrics.store import Ints
from safeship.metrics.wal_format import Kind, SampleBatch, frames, segment_name

READ_BYTES = 4 * 1024 * 1024  # read from a segment at once (more when one frame is bigger)


@dataclass(frozen=True, order=True)
class Position:
    """A place in the WAL: a segment and a byte offset in it."""

    segment: int
    offset: int


class PositionFile:
    """The position the receiver last acknowledged, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Position | None:
        try:
            data = json.loads(self.path.read_text())
            return Position(int(data["segment"]), int(data["offset"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def save(self, position: Position) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"segment": position.segment, "offset": position.offset}))
        os.replace(temporary, self.path)


class WalTail:
    """Reads sample records of the WAL in order from a position up to what is written."""

    def __init__(
        self, directory: Path, written: Callable[[], tuple[int, int]], start: Position
    ) -> None:
        self._directory, self._written = directory, written
        self.position = start
        self.skipped_segments = 0
        self._ref_sets: dict[int, Ints] = {}
        self._seek(start)

    def read(self, max_samples: int) -> list[tuple[SampleBatch, Position]]:
        """Batches after the position (each with the position after it), about `max_samples`
        samples at most (one record at least)."""
        found: list[tuple[SampleBatch, Position]] = []
        count = 0
        while count < max_samples:
            segment, offset = self.position.segment, self.position.offset
            last, written = self._written()
            path = self._directory / segment_name(segment)
            if not path.exists():
                if segment >= last:
                    break
                self._jump(segment + 1)  # dropped while we were behind: skip it
                continue
            end = written if segment == last else path.stat().st_size
            records = self._records(path, offset, end) if offset < end else []
            if not records:
                if segment >= last:
                    break
                self._move(Position(segment + 1, 0))  # the rest is zeros or damage
                continue
            for batch, position in records:
                self.position = position
                if batch is not None:
                    found.append((batch, position))
                    count += batch.refs.size
                    if count >= max_samples:
                        break
        return found

    def _records(
        self, path: Path, offset: int, end: int
    ) -> list[tuple[SampleBatch | None, Position]]:
        segment = self.position.segment
        with path.open("rb") as f:
            f.seek(offset)
            head = f.read(8)
            frame_length = int.from_bytes(head[:4], "little") + 8 if len(head) == 8 else 0
            data = head + f.read(min(end - offset, max(READ_BYTES, frame_length)) - len(head))
        out: list[tuple[SampleBatch | None, Position]] = []
        for record, stop in frames(data, ref_sets=self._ref_sets):
            batch = record.batch if record.kind is Kind.SAMPLES else None
            out.append((batch, Position(segment, offset + stop)))
        return out

    def rewind(self, position: Position) -> None:
        """Read again from `position` (what was read after it was never acknowledged)."""
        if position != self.position:
            self._move(position)
            self._seek(position)

    def _seek(self, start: Position) -> None:
        """Rebuild the ref sets of the start segment read before the start offset."""
        path = self._directory / segment_name(start.segment)
        if start.offset and path.exists():
            data = path.read_bytes()[: start.offset]
            for _ in frames(data, ref_sets=self._ref_sets):
                pass

    def _move(self, position: Position) -> None:
        self.position = position
        self._ref_sets = {}

    def _jump(self, segment: int) -> None:
        self.skipped_segments += 1
        self._move(Position(segment, 0))

"""Silences kept in the state database: add, list, expire, each change audited.

The edge between the pure rules of alerting/silences.py and the rows of store/silences.py;
`safeship silences` (on the store directly), /api/v1/silences and the dispatcher (which
reads the silences at each flush) all go through it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from safeship.alerting.silences import (
    Silence,
    check_span,
    expired,
    parse_silence_matchers,
)
from safeship.core.errors import InvalidInput, NotFound
from safeship.core.matchers import parse_matcher
from safeship.store.repository import Store
from safeship.store.silences import SilenceRecord

MAX_COMMENT = 4096


class SilenceBook:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(
        self,
        matchers: Sequence[str],
        *,
        duration_s: float,
        comment: str,
        created_by: str,
        actor: str | None = None,
        starts_at: float | None = None,
    ) -> Silence:
        """A new silence from now (or `starts_at`) for `duration_s`; audited with `actor`
        (the token's name through the API), else `created_by`."""
        if not comment.strip() or len(comment) > MAX_COMMENT:
            raise InvalidInput(f"a silence needs a comment (1 to {MAX_COMMENT} characters)")
        if duration_s <= 0:
            raise InvalidInput("a silence needs a duration above zero")
        now = self._store.clock.now()
        start = now if starts_at is None else starts_at
        parsed = parse_silence_matchers(matchers)
        check_span(start, start + duration_s)
        silence = Silence(
            id=str(uuid.uuid4()),
            matchers=parsed,
            starts_at=start,
            ends_at=start + duration_s,
            created_by=created_by,
            comment=comment,
            updated_at=now,
        )
        with self._store.transaction() as tx:
            tx.save_silence(_record(silence), actor=actor or created_by, action="create silence")
        return silence

    def list(self, *, include_expired: bool = True) -> list[Silence]:
        ended_after = None if include_expired else self._store.clock.now()
        return [_silence(r) for r in self._store.silences(ended_after=ended_after)]

    def expire(self, silence_id: str, *, actor: str) -> Silence:
        """End the silence now; audited. Conflict if it has expired already."""
        with self._store.transaction() as tx:
            found = tx.silence(silence_id)
            if found is None:
                raise NotFound(f"no silence {silence_id!r}; `safeship silences list` shows them")
            silence = expired(_silence(found), self._store.clock.now())
            tx.save_silence(_record(silence), actor=actor, action="expire silence")
        return silence


def _record(silence: Silence) -> SilenceRecord:
    return SilenceRecord(
        id=silence.id,
        matchers=tuple(str(m) for m in silence.matchers),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=silence.created_by,
        comment=silence.comment,
        updated_at=silence.updated_at,
    )


def _silence(record: SilenceRecord) -> Silence:
    return Silence(
        id=record.id,
        matchers=tuple(parse_matcher(m) for m in record.matchers),
        starts_at=record.starts_at,
        ends_at=record.ends_at,
        created_by=record.created_by,
        comment=record.comment,
        updated_at=record.updated_at,
    )

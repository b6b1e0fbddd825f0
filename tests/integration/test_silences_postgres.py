"""Silences on a real PostgreSQL (matchers in JSONB): add, list, expire, audited."""

from __future__ import annotations

import pytest

from safeship.alerting.silence_book import SilenceBook
from safeship.alerting.silences import SilenceState
from safeship.store.repository import Store
from safeship.testing import FakeClock

pytestmark = pytest.mark.integration


def test_silence_lifecycle_on_postgres(postgres_url: str) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    with Store.open(postgres_url, clock=clock) as store:
        book = SilenceBook(store)
        matchers = ['alertname="Down"', 'service=~"shop|cart"', '"service.name"!="a\\"b"']
        made = book.add(matchers, duration_s=3600, comment="deploy", created_by="alice")
        [listed] = book.list()
        assert listed == made
        # written as Alertmanager writes them: '.' needs no quotes in a UTF-8 name
        assert [str(m) for m in listed.matchers] == [
            'alertname="Down"', 'service=~"shop|cart"', 'service.name!="a\\"b"'
        ]  # fmt: skip
        clock.advance(60)
        book.expire(made.id, actor="bob")
        clock.advance(1)
        assert [s.state(clock.now()) for s in book.list()] == [SilenceState.EXPIRED]
        assert book.list(include_expired=False) == []
        audited = [(e.actor, e.action) for e in store.audit_entries()]
        assert audited == [("alice", "create silence"), ("bob", "expire silence")]

"""Event windows on a real PostgreSQL (127.0.0.1:5432, trust auth): the SQLite tests of
tests/unit/test_event_storage.py (roll-ups once final, late and malformed events, dead
letters, retention per tier, failed commits) run here unchanged on a throwaway database."""

from __future__ import annotations

import pytest

from tests.helpers import contract

pytestmark = pytest.mark.integration

globals().update(contract("test_event_storage", "hub", "Hub"))


@pytest.fixture
def events_url(postgres_url: str) -> str:
    return postgres_url

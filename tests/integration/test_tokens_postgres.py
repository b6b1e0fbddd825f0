"""The token lifecycle of tests/unit/test_store_tokens.py on a real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers import contract

pytestmark = pytest.mark.integration

# The SQLite contract tests run here again; only the `store_url` fixture below differs.
globals().update(contract("test_store_tokens", "store", "clock"))


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url

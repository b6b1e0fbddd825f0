"""The token lifecycle of tests/unit/test_store_tokens.py on a real PostgreSQL."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
_contract = importlib.import_module("test_store_tokens")
globals().update({k: v for k, v in vars(_contract).items() if k.startswith("test_")})
store = _contract.store
clock = _contract.clock


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url

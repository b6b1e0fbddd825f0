"""Fixtures shared by the integration tests: a throwaway database on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"  # trust auth on this machine and CI's


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database per test, dropped after it; an unreachable server fails the test."""
    name = f"safeship_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    _admin(f'DROP DATABASE "{name}" WITH (FORCE)')

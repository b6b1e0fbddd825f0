"""Fixtures shared by the integration tests: a throwaway database on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(autouse=True)
def safeship_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Each test's own `$SAFESHIP_HOME`: an agent that `safeship run` starts lives there, and
    is stopped with its fleet afterwards (`run` leaves the fleet serving by design)."""
    from tests.integration.agent_kit import stop_agent

    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAFESHIP_HOME", str(home))
        yield home
    stop_agent(home)

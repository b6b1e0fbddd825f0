"""GET /api/v1/events under a real uvicorn: a rollout status change arrives as an SSE event
with an id, and a client that reconnects with Last-Event-ID gets what it missed, only that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeship.store.repository import Store
from safeship.store.tokens import Role
from tests.api_kit import api_app, bearer, running_rollout, served, tokens


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        yield opened


@pytest.fixture
def url(store: Store) -> Iterator[str]:
    with served(api_app(store, poll_s=0.05)) as base:
        yield base


def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The next `count` events of the stream: {"id", "event", "data"}."""
    events: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in event:
                events.append(event)
                if len(events) == count:
                    return events
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            event[key] = json.loads(value) if key == "data" else value
    raise AssertionError(f"the stream ended after {len(events)} events")


def test_a_status_change_is_an_event_with_an_id_and_reconnects_resume(
    url: str, store: Store
) -> None:
    headers = bearer(tokens(store)[Role.viewer])
    first = running_rollout("web-1", now=1_800_000_000.0)
    store.save_rollout(first)  # before the stream: not sent to a new reader
    with (
        httpx.Client(base_url=url, timeout=5) as client,
        client.stream("GET", "/api/v1/events", headers=headers) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        paused = replace(first, phase="Paused", updated_at=first.updated_at + 1)
        store.save_rollout(paused)
        [event] = read_events(stream, 1)
    assert event["event"] == "rollout" and event["id"]
    assert (event["data"]["id"], event["data"]["phase"]) == ("web-1", "Paused")

    # Missed while away: a resume, and a second rollout.
    store.save_rollout(replace(paused, phase="Progressing", updated_at=paused.updated_at + 1))
    store.save_rollout(running_rollout("api-1", service="api", now=paused.updated_at + 2))
    resumed = {**headers, "Last-Event-ID": event["id"]}
    with (
        httpx.Client(base_url=url, timeout=5) as client,
        client.stream("GET", "/api/v1/events", headers=resumed) as stream,
    ):
        missed = read_events(stream, 2)
    assert [(e["data"]["id"], e["data"]["phase"]) for e in missed] == [
        ("web-1", "Progressing"),
        ("api-1", "Progressing"),
    ]
    assert len({event["id"], *(e["id"] for e in missed)}) == 3


def test_a_last_event_id_the_stream_never_sent_is_refused(url: str, store: Store) -> None:
    headers = {**bearer(tokens(store)[Role.viewer]), "Last-Event-ID": "yesterday"}
    answer = httpx.get(f"{url}/api/v1/events", headers=headers, timeout=5)
    assert answer.status_code == 400
    assert "Last-Event-ID" in answer.json()["error"]

"""The agent's merge of its router workers' expositions (agent/exposition.py)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from safeship.agent.exposition import merge, render, scrape_errors
from safeship.metrics.exposition import parse, parse_series


def worker_text(requests: int, *, help_text: str = "Requests answered.") -> str:
    return f"""# HELP safeship_router_requests_total {help_text}
# TYPE safeship_router_requests_total counter
safeship_router_requests_total{{code="200",pool="stable",service="web",version="v1"}} {requests}
# HELP safeship_router_request_duration_seconds Time to answer.
# TYPE safeship_router_request_duration_seconds histogram
safeship_router_request_duration_seconds_bucket{{le="0.1",version="v1"}} 1
safeship_router_request_duration_seconds_bucket{{le="+Inf",version="v1"}} 2
safeship_router_request_duration_seconds_count{{version="v1"}} 2
safeship_router_request_duration_seconds_sum{{version="v1"}} 0.3
"""


def test_same_families_of_two_workers_become_one_family_with_worker_labels() -> None:
    merged = merge({"w0": worker_text(3), "w1": worker_text(4, help_text="Another help.")})
    assert merged.failed == []
    text = render(merged.families).decode()

    assert text.count("# TYPE safeship_router_requests_total counter") == 1
    assert text.count("# HELP safeship_router_requests_total Requests answered.") == 1
    assert "Another help." not in text
    assert text.count("# TYPE safeship_router_request_duration_seconds histogram") == 1
    samples = parse(text)
    requests = {
        dict(parse_series(k))["worker"]: v
        for k, v in zip(samples.keys, samples.values, strict=True)
        if k.startswith("safeship_router_requests_total")
    }
    assert requests == {"w0": 3.0, "w1": 4.0}
    first = dict(parse_series(samples.keys[0]))
    assert {k: v for k, v in first.items() if k != "__name__"} == {
        "code": "200",
        "pool": "stable",
        "service": "web",
        "version": "v1",
        "worker": "w0",
    }
    (histogram,) = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "safeship_router_request_duration_seconds"
    ]
    assert {s.labels["worker"] for s in histogram.samples} == {"w0", "w1"}
    assert len(histogram.samples) == 8  # two buckets, count and sum per worker


def test_a_worker_that_is_silent_or_broken_is_left_out_and_reported() -> None:
    broken = worker_text(5) + 'safeship_router_requests_total{code="200" 7\n'
    merged = merge({"w0": worker_text(3), "w1": None, "w2": broken, "w3": "x 1 2 3\n"})
    assert merged.failed == ["w1", "w2", "w3"]
    text = render([*merged.families, scrape_errors("web", 3)]).decode()
    samples = dict(zip(parse(text).keys, parse(text).values, strict=True))
    assert 'worker="w2"' not in text and 'worker="w3"' not in text
    assert samples['safeship_agent_worker_scrape_errors_total{service="web"}'] == 3.0
    assert [k for k in samples if k.startswith("safeship_router_requests_total")] == [
        'safeship_router_requests_total{code="200",pool="stable",service="web",version="v1",worker="w0"}'
    ]

"""serve's /runbooks pages, and every default runbook link landing on one of them."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import typer
import yaml
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from safeship.alerting.defaults import generated_groups, runbook, runbook_names
from safeship.cli import export as export_cli
from safeship.config.metrics import ControlPlaneConfig
from safeship.metrics.promql import Engine
from safeship.metrics.store import SeriesStore
from safeship.server import runbooks_api
from safeship.server.app import create_app
from safeship.testing import FakeClock
from safeship.wiring.serve import build, rule_manager

SLO = {
    "name": "shop",
    "service": "shop",
    "objective": 99.5,
    "total": "sum(rate(safeship_router_requests_total[{{.window}}]))",
    "errors": 'sum(rate(safeship_router_requests_total{code=~"5.."}[{{.window}}]))',
}


async def _ready() -> list[str]:
    return []


@pytest.fixture
def client() -> TestClient:
    """The whole control-plane app, as serve builds it (no rules, no token anywhere)."""
    store = SeriesStore()
    app = create_app(
        engine=Engine(store),
        store=store,
        clock=FakeClock(),
        registry=CollectorRegistry(),
        ready=_ready,
    )
    return TestClient(app)


def test_the_index_links_every_runbook_relatively(client: TestClient) -> None:
    assert client.get("/runbooks", follow_redirects=False).headers["location"] == "runbooks/"
    page = client.get("/runbooks")  # redirected to /runbooks/
    assert page.status_code == 200 and page.url.path == "/runbooks/"
    links = re.findall(r'<a href="([^"]+)">', page.text)
    assert links == runbook_names()
    for link in links:
        assert client.get(urljoin(str(page.url), link)).status_code == 200


def test_a_runbook_renders_as_a_self_contained_page(client: TestClient) -> None:
    page = client.get("/runbooks/SafeshipRolloutStuck")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<h1>SafeshipRolloutStuck</h1>" in page.text
    assert "<h2>Check</h2>" in page.text
    assert "safeship status ROLLOUT --detailed" in page.text
    assert "<code>safeship promote ROLLOUT</code>" in page.text
    # nothing loaded from anywhere: no script, stylesheet link, image or frame
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=", page.text)
    # the .md form of the link (what alerts carry) is the same page
    assert client.get("/runbooks/SafeshipRolloutStuck.md").text == page.text


def test_the_markdown_form_is_the_file_itself(client: TestClient) -> None:
    raw = client.get("/runbooks/SafeshipTargetDown", params={"format": "md"})
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "text/markdown; charset=utf-8"
    assert raw.text == runbook("SafeshipTargetDown")
    asked = client.get("/runbooks/SafeshipTargetDown.md", headers={"Accept": "text/markdown"})
    assert asked.text == runbook("SafeshipTargetDown")
    html = client.get("/runbooks/SafeshipTargetDown", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")


def test_everything_in_a_runbook_is_escaped(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = (
        "# Evil\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
        "[click](javascript:alert(3)) `<b>`\n"
    )
    monkeypatch.setattr(runbooks_api, "runbook_names", lambda: ["Evil"])
    monkeypatch.setattr(runbooks_api, "runbook", lambda _: hostile)
    page = client.get("/runbooks/Evil").text
    assert "<script>" not in page and "<img" not in page and 'href="javascript' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>&lt;b&gt;</code>" in page


def test_an_unknown_runbook_is_a_404_that_echoes_nothing(client: TestClient) -> None:
    answer = client.get("/runbooks/NoSuchAlert<b>")
    assert answer.status_code == 404
    assert "NoSuchAlert" not in answer.text and "<b>" not in answer.text
    assert '<a href="./">All runbooks</a>' in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/runbooks/..%2Fdefault_rules.yaml",
        "/runbooks/..%2F..%2F..%2F..%2Fpyproject.toml",
        "/runbooks/%2Fetc%2Fpasswd",
        "/runbooks//etc/passwd",
        "/runbooks/..",
        "/runbooks/.md",
        "/runbooks/%2E%2E",
    ],
)
def test_no_path_reaches_another_file(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404, path
    assert "groups:" not in answer.text and "root:" not in answer.text
    assert "[project]" not in answer.text


def test_every_generated_runbook_link_opens_a_served_runbook(client: TestClient) -> None:
    config = ControlPlaneConfig.model_validate({"listen": "127.0.0.1:8470", "slos": [SLO]})
    alerts = [r for g in generated_groups(config) for r in g.group.rules if r.alert]
    assert len({r.alert for r in alerts}) == len(runbook_names())  # every runbook is linked
    for rule in alerts:
        url = rule.annotations["runbook_url"]
        assert url.startswith("http://127.0.0.1:8470/runbooks/"), url
        page = client.get(urlsplit(url).path)
        assert page.status_code == 200, url
        name = urlsplit(url).path.rsplit("/", 1)[1].removesuffix(".md")
        assert f"<h1>{name}</h1>" in page.text


def test_external_url_is_where_links_point_and_runbook_url_overrides() -> None:
    assert ControlPlaneConfig().public_url == "http://127.0.0.1:8470"
    assert ControlPlaneConfig().runbooks_url == "http://127.0.0.1:8470/runbooks"
    wildcard = ControlPlaneConfig.model_validate({"listen": "0.0.0.0:9000"})
    assert wildcard.runbooks_url == "http://localhost:9000/runbooks"
    v6 = ControlPlaneConfig.model_validate({"listen": "[::1]:9000"})
    assert v6.public_url == "http://[::1]:9000"
    proxied = ControlPlaneConfig.model_validate(
        {"listen": "0.0.0.0:9000", "external_url": "https://ops.example.com/safeship/"}
    )
    assert proxied.public_url == "https://ops.example.com/safeship"
    assert proxied.runbooks_url == "https://ops.example.com/safeship/runbooks"
    wiki = ControlPlaneConfig.model_validate(
        {"external_url": "https://ops.example.com", "runbook_url": "https://wiki.example.com/rb"}
    )
    assert wiki.runbooks_url == "https://wiki.example.com/rb"


def test_exported_rules_link_to_the_configured_control_plane(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text("external_url: https://ops.example.com/safeship\n")
    app = typer.Typer()
    export_cli.register(app)
    done = CliRunner().invoke(app, ["export", "prometheus-rules", "-c", str(config)])
    assert done.exit_code == 0, done.output
    links = [
        r["annotations"]["runbook_url"]
        for g in yaml.safe_load(done.output)["groups"]
        for r in g["rules"]
        if "alert" in r
    ]
    assert links and all(
        link == f"https://ops.example.com/safeship/runbooks/{link.rsplit('/', 1)[1]}"
        for link in links
    )
    assert "https://ops.example.com/safeship/runbooks/SafeshipTargetDown.md" in links


def test_serve_gives_templates_the_external_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFESHIP_DB", f"sqlite:///{tmp_path}/state.db")
    rules = tmp_path / "mine.yml"
    rules.write_text(
        "groups:\n  - name: mine\n    rules:\n      - alert: Always\n        expr: vector(1)\n"
        "        annotations:\n          link: '{{ $externalURL }}/x'\n"
    )
    config = ControlPlaneConfig.model_validate(
        {
            "rule_files": [str(rules)],
            "default_rules": False,
            "external_url": "https://ops.example.com/s",
        }
    )
    clock = FakeClock()
    manager = rule_manager(build(config, clock=clock), clock=clock)
    assert manager is not None
    manager.evaluate_due()
    assert [dict(a.annotations)["link"] for a in manager.alerts()] == [
        "https://ops.example.com/s/x"
    ]

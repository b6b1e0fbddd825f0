"""The default rules, SLO rules and exports checked by the real tools (promtool, amtool),
and `safeship serve` loading the defaults and SLO groups next to the user's rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from safeship.testing import free_port

pytestmark = pytest.mark.integration
SAFESHIP = Path(sys.executable).parent / "safeship"
HERE = Path(__file__).parent
SLOS = """\
slos:
  - name: shop-availability
    service: shop
    objective: 99.9
    total: sum(rate(safeship_router_requests_total{service="shop"}[{{.window}}]))
    errors: sum(rate(safeship_router_requests_total{service="shop",code=~"5.."}[{{.window}}]))
    minTraffic: 20
  - name: shop-fast
    service: shop
    objective: 99
    window: 7d
    total: sum(rate(safeship_router_request_duration_seconds_count{service="shop"}[{{.window}}]))
    good: >-
      sum(rate(safeship_router_request_duration_seconds_bucket{service="shop",le="0.25"}[{{.window}}]))
"""


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (scripts/install-system.sh)"  # a failure, not a skip
    return path


def _safeship(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(SAFESHIP), *args], capture_output=True, text=True, check=True, cwd=cwd
    )
    return done.stdout


def test_exported_rules_pass_promtool(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text(SLOS)
    rules = tmp_path / "rules.yml"
    rules.write_text(_safeship("export", "prometheus-rules", "-c", str(config)))
    checked = subprocess.run(
        [_tool("promtool"), "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # 10 defaults, and per SLO 7 ratios + 7 rates + objective + budget + 2 alerts
    assert "SUCCESS: 46 rules found" in checked.stdout
    # and safeship's own checker agrees
    assert "SUCCESS: 46 rules found" in _safeship("rules", "check", str(rules))


def test_exported_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(_safeship("export", "alertmanager", "--pager-url", "https://p.example/x"))
    checked = subprocess.run(
        [_tool("amtool"), "check-config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 inhibit rules" in checked.stdout and "2 receivers" in checked.stdout


@pytest.mark.parametrize("runner", ["promtool", "safeship"])
def test_every_default_alert_fires_in_its_rule_test(runner: str) -> None:
    test_file = HERE / "default_rules" / "default_rules_test.yml"
    argv = (
        [_tool("promtool"), "test", "rules"]
        if runner == "promtool"
        else [str(SAFESHIP), "rules", "test"]
    )
    done = subprocess.run(
        [*argv, test_file.name], capture_output=True, text=True, cwd=test_file.parent
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    (tmp_path / "mine.yml").write_text("groups:\n  - name: mine\n    rules: []\n")
    config = tmp_path / "safeship.yaml"
    scrapes = (
        "  - name: self-scrapes\n    service: safeship\n    objective: 99.9\n"
        "    total: sum(count_over_time(up{job='safeship'}[{{.window}}]))\n"
        "    good: sum(sum_over_time(up{job='safeship'}[{{.window}}]))\n"
    )
    config.write_text("rule_files: [mine.yml]\nself_scrape_interval: 200ms\n" + SLOS + scrapes)
    listen = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{tmp_path}/state.db"}
    argv = [str(SAFESHIP), "serve", "-c", str(config), "--listen", listen]
    process = subprocess.Popen(argv, env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        yield f"http://{listen}", config
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_evaluates_the_defaults_and_the_slo_groups(serve: tuple[str, Path]) -> None:
    url, config = serve
    deadline = time.monotonic() + 20
    groups: list[str] = []
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/prometheus/api/v1/rules", timeout=1).json()
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        found = answer["data"]["groups"]
        groups = [g["name"] for g in found]
        if all(g["lastEvaluation"] != "0001-01-01T00:00:00Z" for g in found):
            break
        time.sleep(0.2)
    assert groups == [
        "mine",
        "safeship-defaults",
        "slo:shop-availability",
        "slo:shop-fast",
        "slo:self-scrapes",
    ]
    # no router traffic: reported without data rather than with made-up numbers; serve's
    # scrapes of itself all succeed: the whole budget is left
    deadline = time.monotonic() + 10
    while True:  # until serve has scraped itself once
        argv = ["slo", "status", "-c", str(config), "--server", url, "--format", "json"]
        status = json.loads(_safeship(*argv))
        if status[2]["availability"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    shop, fast, scrapes = status
    assert fast["window"] == "7d" and fast["objective"] == 99
    assert shop["availability"] is None and shop["burn_rates"]["1h"] is None
    assert scrapes["availability"] == 1.0 and scrapes["budget_remaining"] == 1.0
    assert scrapes["budget_remaining_seconds"] == pytest.approx(0.001 * 30 * 86400)
    assert scrapes["burn_rates"] == {"5m": 0.0, "1h": 0.0, "6h": 0.0, "1d": 0.0, "3d": 0.0}

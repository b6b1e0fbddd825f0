"""`safeship export`: systemd units that systemd accepts, and a scrape job Prometheus reads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from safeship.cli.main import app


def test_systemd_units_leave_the_fleet_running_and_pass_systemd_analyze(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text("listen: 127.0.0.1:9470\n")
    result = CliRunner().invoke(
        app,
        [
            "export",
            "systemd",
            "--out",
            str(tmp_path / "units"),
            "--workdir",
            str(tmp_path),
            "--user",
            "ops",
            "-c",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    agent = (tmp_path / "units" / "safeship-agent.service").read_text()
    serve = (tmp_path / "units" / "safeship-serve.service").read_text()
    assert "KillMode=process" in agent and "KillMode" not in serve
    assert f"agent --state-dir {tmp_path}/.safeship/agent" in agent
    assert f"serve -c {config}" in serve and "User=ops" in serve
    assert f"ReadWritePaths={tmp_path}" in agent
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    units = sorted(str(p) for p in (tmp_path / "units").iterdir())
    verified = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr


def test_the_scrape_job_names_serves_listen_address(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text("listen: 127.0.0.1:9470\n")
    result = CliRunner().invoke(app, ["export", "prometheus-scrape", "-c", str(config)])
    assert result.exit_code == 0, result.output
    job = yaml.safe_load(result.output)["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9470"]


def test_a_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text("listen: nowhere\n")
    result = CliRunner().invoke(app, ["export", "prometheus-scrape", "-c", str(config)])
    assert result.exit_code == 2

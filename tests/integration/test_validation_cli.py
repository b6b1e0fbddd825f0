"""`safeship validate` and `safeship run` run the pre-deployment checks for real, first."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SAFESHIP = [str(Path(sys.executable).parent / "safeship")]

SPEC = """\
service:
  name: web
  command: [python, -c, "import pathlib; pathlib.Path('{marker}').touch()", "{{port}}"]
  stable: v1
fleet: {{replicas: 1, startTimeout: 3s}}
router: {{listen: "127.0.0.1:0"}}
strategy:
  canary:
    steps:
      - setWeight: 50
validation:
{checks}
"""


@pytest.fixture
def dependency() -> Iterator[str]:
    """A real HTTP server answering 200 on /ok and 404 elsewhere."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write_spec(tmp_path: Path, checks: str) -> Path:
    spec = tmp_path / "rollout.yaml"
    spec.write_text(SPEC.format(marker=tmp_path / "started", checks=checks))
    return spec


def safeship(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    if "PYTHONPATH" in os.environ:  # a worktree's sources, not the installed ones
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [*SAFESHIP, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_validate_runs_every_kind_of_check_and_prints_a_table(
    tmp_path: Path, dependency: str
) -> None:
    (tmp_path / "app.json").write_text('{"ok": true}')
    spec = write_spec(
        tmp_path,
        f"""\
  - {{name: unit-tests, kind: command, command: [python, -c, "print('3 passed')"]}}
  - {{name: dependency, kind: http, url: "{dependency}/ok", timeout: 2s}}
  - {{name: disk, kind: diskSpace, path: ., minFree: 1MB}}
  - {{name: app-config, kind: configFile, path: app.json}}
  - {{name: optional, kind: http, url: "{dependency}/missing", critical: false, retries: 1}}
""",
    )
    done = safeship("validate", spec, "--checks", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("unit-tests", "dependency", "disk", "app-config"):
        assert any(name in line and "passed" in line for line in done.stdout.splitlines())
    assert "3 passed" in done.stdout
    assert "warning" in done.stdout and "HTTP 404" in done.stdout


def test_a_failed_critical_check_stops_run_before_anything_changes(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("key: [unclosed\n")
    spec = write_spec(
        tmp_path,
        "  - {name: app-config, kind: configFile, path: broken.yaml}\n"
        "  - {name: disk, kind: diskSpace, minFree: 1000TiB, critical: false}\n",
    )
    db = tmp_path / "state.db"
    done = safeship("run", spec, "--version", "v2", "--db", f"sqlite:///{db}", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "app-config" in done.stdout and "not valid yaml" in done.stdout
    assert not db.exists(), "the store was touched"
    assert not (tmp_path / "started").exists(), "a replica was started"


def test_a_failing_command_check_exits_2_on_validate(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        '  - {name: unit-tests, kind: command, command: [python, -c, "raise SystemExit(1)"],'
        " retries: 1}\n",
    )
    done = safeship("validate", spec, "--checks", cwd=tmp_path)
    assert done.returncode == 2
    assert "exit code 1" in done.stdout and "attempt 2 of 2" in done.stdout


def test_validate_runs_no_command_check_unless_asked(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    spec = write_spec(
        tmp_path,
        f'  - {{name: unit-tests, kind: command, command: [touch, "{ran}"]}}\n'
        "  - {name: disk, kind: diskSpace, path: ., minFree: 1MB}\n",
    )
    done = safeship("validate", spec, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not ran.exists(), "validate ran a command check without --checks"
    assert "skipped command checks unit-tests" in done.stdout
    assert any("disk" in line and "passed" in line for line in done.stdout.splitlines())
    assert safeship("validate", spec, "--checks", cwd=tmp_path).returncode == 0
    assert ran.exists()

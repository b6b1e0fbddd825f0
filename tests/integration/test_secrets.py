"""Secrets never stored or shown: a spec with secrets in `service.env` (a literal, a `${NAME}`
reference and a URL credential), run for real, then every byte the user can reach is searched:
the state database and its WAL, the audit key folder, and the output of every command."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from safeship.testing import free_port
from tests.helpers import run_cli

pytestmark = pytest.mark.integration

TOKEN = f"tok-{uuid.uuid4().hex}"
REFERENCED = f"ref-{uuid.uuid4().hex}"
PASSWORD = f"pw-{uuid.uuid4().hex}"
SECRETS = (TOKEN, REFERENCED, PASSWORD)

SPEC = f"""\
service:
  name: vault
  command: [python, -m, safeship.demo.service, --port, "{{port}}", --version, "{{version}}"]
  stable: v1
  env:
    API_TOKEN: {TOKEN}
    DB_PASSWORD: ${{SAFESHIP_TEST_DB_PASSWORD}}
    CACHE_PASSWORD: {{secretRef: SAFESHIP_TEST_DB_PASSWORD}}
    DATABASE_URL: postgres://app:{PASSWORD}@db.internal/app
  versions:
    leaky: {{args: [--no-such-flag, {TOKEN}]}}
fleet: {{replicas: 1, startTimeout: 10s, stopTimeout: 3s}}
router: {{listen: "127.0.0.1:%(port)d"}}
analysis:
  interval: 1s
  metrics:
    - {{name: rate, builtin: request-rate, min: 0}}
strategy:
  canary:
    steps:
      - setWeight: 50
      - pause: {{duration: 1s}}
"""


def test_no_secret_reaches_the_store_the_logs_or_any_output(tmp_path: Path) -> None:
    (tmp_path / "rollout.yaml").write_text(SPEC % {"port": free_port()})
    env = {
        "SAFESHIP_DB": f"sqlite:///{tmp_path}/state/state.db",
        "SAFESHIP_TEST_DB_PASSWORD": REFERENCED,
    }

    def safeship(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(tmp_path, *args, env=env, timeout=120)

    promoted = safeship("run", "rollout.yaml", "--version", "v2")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    leaked = safeship("run", "rollout.yaml", "--version", "leaky")  # stderr names the token
    assert leaked.returncode == 1, leaked.stdout + leaked.stderr
    outputs = [
        promoted,
        leaked,
        safeship("validate", "rollout.yaml"),
        safeship("status", "--format", "json"),
        safeship("status"),
        safeship("audit", "list", "--format", "json"),
        safeship("audit", "verify"),
    ]
    rollout_ids = [line.split()[0] for line in safeship("status").stdout.splitlines()[3:-1]]
    outputs += [safeship("audit", "list", "--rollout", r, "--format", "json") for r in rollout_ids]
    assert "unrecognized arguments: --no-such-flag ***" in leaked.stdout  # masked, not lost
    seen = "".join(o.stdout + o.stderr for o in outputs).encode()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.is_file())
    assert len(stored) > 10_000  # the database is really there
    for secret in SECRETS:
        assert secret.encode() not in seen, secret
        assert secret.encode() not in stored, secret

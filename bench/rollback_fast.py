"""Manual `safeship rollback --strategy fast` on the local fleet: how long from the command
to "all traffic on the stable version, canary stopped" (the rollout's RolledBack status).

A real `safeship run` (local provider, embedded router, SQLite in a temp dir) holds a canary
at 50% on an open pause; then the rollback command is timed until the status says RolledBack
and no canary process is left. Prints the figures and writes bench/results/rollback_fast.json.

    .venv/bin/python bench/rollback_fast.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safeship.testing import free_port

LIMIT_S = 5.0
SPEC = """\
service:
  name: bench
  command: [python, -m, safeship.demo.service, --port, "{port}", --version, "{version}"]
  stable: v1
fleet: {replicas: 4, startTimeout: 10s, stopTimeout: 3s}
router: {listen: "127.0.0.1:%d", drainTimeout: 1s}
strategy:
  canary:
    canaryReplicas: 2
    steps:
      - setWeight: 50
      - pause: {}
"""


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{workdir}/state.db"}
    command = [sys.executable, "-m", "safeship.cli", *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)


def latest(workdir: Path) -> dict[str, object]:
    result = cli(workdir, "status", "--format", "json")
    rows = json.loads(result.stdout) if result.returncode == 0 else []
    return dict(rows[0]) if rows else {}


def wait_until(workdir: Path, phase: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = latest(workdir)
        if row.get("phase") == phase:
            return row
        time.sleep(0.05)
    raise SystemExit(f"rollout never reached {phase}")


def one_run() -> float:
    with tempfile.TemporaryDirectory(prefix="safeship-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "spec.yaml").write_text(SPEC % free_port())
        env = {**os.environ, "SAFESHIP_DB": f"sqlite:///{workdir}/state.db"}
        command = [sys.executable, "-m", "safeship.cli", "run", "spec.yaml", "--version", "v2"]
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL)
        try:
            rollout = str(wait_until(workdir, "Paused")["rollout_id"])
            started = time.monotonic()
            cli(workdir, "rollback", rollout, "--strategy", "fast")
            wait_until(workdir, "RolledBack", timeout=30)
            took = time.monotonic() - started
            proc.wait(timeout=30)
        finally:
            proc.kill()
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    times = [one_run() for _ in range(runs)]
    result = {
        "runs": runs,
        "seconds": [round(t, 3) for t in times],
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "limit_s": LIMIT_S,
        "ok": max(times) <= LIMIT_S,
    }
    print(f"manual fast rollback (command → RolledBack), {runs} runs on the local fleet:")
    print(f"  median {result['median_s']}s, max {result['max_s']}s (limit {LIMIT_S}s)")
    out = Path(__file__).parent / "results" / "rollback_fast.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    raise SystemExit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()

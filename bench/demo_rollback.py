"""Runs `safeship demo --once --fast` N times; prints the median seconds from the bad canary's
first traffic to canary weight 0, and the failures caused by deployment mechanics per run.

Targets (issue 2): median <= 15 s; mechanics failures 0 in every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def one_run(index: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="safeship-bench-") as tmp:
        report = Path(tmp) / "report.json"
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "safeship.cli", "demo", "--once", "--fast", "--port", "0"]
            + ["--report", str(report)],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        wall = time.monotonic() - started
        if not report.exists():
            raise SystemExit(
                f"run {index}: no report (exit {proc.returncode})\n{proc.stdout}{proc.stderr}"
            )
        data = json.loads(report.read_text())
    bad = next(r for r in data["rollouts"] if r["version"] == "v3")
    return {
        "run": index,
        "exit_code": proc.returncode,
        "wall_s": round(wall, 1),
        "results": {r["version"]: r["result"] for r in data["rollouts"]},
        "bad_traffic_to_zero_s": bad["canary_traffic_to_zero_s"],
        "requests_sent": data["requests_sent"],
        "bad_version_failures": sum(data["failures"]["caused_by_bad_version"].values()),
        "mechanics_failures": data["failures"]["caused_by_deployment_mechanics"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [one_run(i + 1) for i in range(args.runs)]
    header = ("run", "exit", "wall s", "to zero s", "sent", "bad", "mech")
    print("{:>3} {:>4} {:>7} {:>9} {:>6} {:>4} {:>4}".format(*header))
    for r in runs:
        print(
            f"{r['run']:>3} {r['exit_code']:>4} {r['wall_s']:>7} {r['bad_traffic_to_zero_s']:>9}"
            f" {r['requests_sent']:>6} {r['bad_version_failures']:>4} {r['mechanics_failures']:>4}"
        )
    median = statistics.median(float(str(r["bad_traffic_to_zero_s"])) for r in runs)
    mechanics = [r["mechanics_failures"] for r in runs]
    ok = median <= 15 and all(m == 0 for m in mechanics) and all(r["exit_code"] == 0 for r in runs)
    print(f"median bad traffic → weight 0: {median:.2f} s (target <= 15 s)")
    print(f"mechanics failures per run: {mechanics} (target all 0)")
    RESULTS.mkdir(exist_ok=True)
    summary = {"runs": runs, "median_bad_traffic_to_zero_s": median, "ok": ok}
    (RESULTS / "demo_rollback.json").write_text(json.dumps(summary, indent=2))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

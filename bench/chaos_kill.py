"""Crash safety under SIGKILL: kill `safeship run` at random moments and check it converges.

Runs N rollouts of the demo service on the real local provider (alternating a good and a bad
version), each as a real `safeship run` subprocess with a SQLite store in a temp dir. In a
share of them the controller is SIGKILLed at a random moment and restarted with the same
command until it exits. Then, per rollout: the newest rollout in the store must have ended
where it would have without the kill (good → Promoted, bad → RolledBack) and no process
carrying the bench's marker may remain. At the end `safeship audit verify` must pass.

    .venv/bin/python bench/chaos_kill.py [--rollouts 50] [--kill-share 0.7] [--seed 1]

Prints rollouts run, kills, converged, orphans; writes bench/results/chaos_kill.json.
Everything runs on 127.0.0.1; a load generator sends 40 req/s through the router.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safeship.testing import free_port

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results" / "chaos_kill.json"
MARKER_VAR = "SAFESHIP_CHAOS_MARKER"
RUN_TIMEOUT_S = 60.0  # one controller process; a hung run is a failure, not a wait


@dataclass
class RolloutResult:
    version: str
    good: bool
    kills: int
    phase: str | None
    exit_codes: list[int]
    seconds: float
    orphans: list[str]

    @property
    def converged(self) -> bool:
        return self.phase == ("Promoted" if self.good else "RolledBack")


@dataclass
class Summary:
    rollouts: int = 0
    kills: int = 0
    converged: int = 0
    orphans: int = 0
    audit_verified: bool = False
    seconds: float = 0.0
    failures: list[dict[str, object]] = field(default_factory=list)


def spec_text(*, port: int, marker: str, bad: list[str]) -> str:
    versions = ", ".join(f'{v}: {{args: [--error-ratio, "0.3"]}}' for v in bad)
    return f"""\
service:
  name: chaos
  command: [python, -m, safeship.demo.service, --port, "{{port}}", --version, "{{version}}"]
  stable: v0
  versions: {{{versions}}}
  env: {{{MARKER_VAR}: "{marker}"}}
fleet: {{replicas: 2, startTimeout: 15s, stopTimeout: 2s}}
router: {{listen: "127.0.0.1:{port}", drainTimeout: 1s}}
analysis:
  interval: 1s
  window: 2s
  metrics:
    - {{name: success, builtin: request-success-rate, min: 0.95, minSamples: 5}}
strategy:
  canary:
    canaryReplicas: 1
    steps:
      - setWeight: 50
      - analysis: {{count: 2, inconclusiveLimit: 20}}
"""


def marked_processes(marker: str, *, exclude: set[int]) -> list[str]:
    """Processes (other than `exclude`) whose environment or command line carries `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            blob = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {cmd.strip()[:120]}")
    return found


def wait_for_no_orphans(marker: str, *, exclude: set[int], within: float = 5.0) -> list[str]:
    """A replica gets SIGTERM when its controller dies; give it a moment to exit."""
    deadline = time.monotonic() + within
    while True:
        left = marked_processes(marker, exclude=exclude)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def newest_phase(db_url: str, version: str) -> str | None:
    """The phase of the newest rollout in the store, if it is a rollout to `version`."""
    from safeship.store.repository import Store

    with Store.open(db_url) as store:
        records = store.list_rollouts(limit=1)
    if not records or records[0].to_version != version:
        return None
    return records[0].phase


class Bench:
    def __init__(self, *, work: Path, rng: random.Random, kill_share: float) -> None:
        self.work, self.rng, self.kill_share = work, rng, kill_share
        self.marker = f"chaos-{secrets.token_hex(4)}"
        self.port = free_port()
        self.db_url = f"sqlite:///{work / 'state.db'}"
        self.spec = work / "rollout.yaml"
        self.env = {**os.environ, MARKER_VAR: self.marker, "COLUMNS": "160"}
        self.log = (work / "runs.log").open("a")

    def write_spec(self, bad: list[str]) -> None:
        self.spec.write_text(spec_text(port=self.port, marker=self.marker, bad=bad))

    def start_load(self, seconds: int) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            "-m",
            "safeship.demo.load",
            "--url",
            f"http://127.0.0.1:{self.port}/",
        ]
        argv += ["--rate", "40", "--duration", f"{seconds}s", "--out", str(self.work / "load.json")]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def controller(self, version: str) -> subprocess.Popen[bytes]:
        argv = [str(BIN / "safeship"), "run", str(self.spec), "--version", version]
        argv += ["--db", self.db_url]
        return subprocess.Popen(argv, env=self.env, stdout=self.log, stderr=self.log)

    def rollout(self, version: str, *, good: bool, exclude: set[int]) -> RolloutResult:
        started = time.monotonic()
        kill_at = self.rng.uniform(0.2, 3.5) if self.rng.random() < self.kill_share else None
        kills, codes = 0, []
        while True:
            proc = self.controller(version)
            code = self._wait(proc, kill_at)
            if code is None:  # killed: restart the same command, maybe kill it again later
                kills += 1
                kill_at = self.rng.uniform(0.2, 3.5) if self.rng.random() < 0.2 else None
                continue
            codes.append(code)
            break
        orphans = wait_for_no_orphans(self.marker, exclude=exclude)
        took = time.monotonic() - started
        phase = newest_phase(self.db_url, version)
        return RolloutResult(version, good, kills, phase, codes, took, orphans)

    def _wait(self, proc: subprocess.Popen[bytes], kill_at: float | None) -> int | None:
        try:
            return proc.wait(timeout=kill_at if kill_at is not None else RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return None if kill_at is not None else -1

    def audit_verify(self) -> bool:
        argv = [str(BIN / "safeship"), "audit", "verify", "--db", self.db_url]
        return subprocess.run(argv, stdout=self.log, stderr=self.log, check=False).returncode == 0


def run(*, rollouts: int, kill_share: float, seed: int, work: Path) -> Summary:
    bench = Bench(work=work, rng=random.Random(seed), kill_share=kill_share)
    plan = [(f"v{i + 1}", i % 2 == 0) for i in range(rollouts)]  # good, bad, good, ...
    bench.write_spec([v for v, good in plan if not good])
    load = bench.start_load(seconds=min(3600, 30 * rollouts + 60))
    summary, started = Summary(), time.monotonic()
    try:
        for version, good in plan:
            result = bench.rollout(version, good=good, exclude={os.getpid(), load.pid})
            _tally(summary, result)
            print(_line(len(plan), result), flush=True)
    finally:
        load.send_signal(signal.SIGINT)
        try:
            load.wait(timeout=10)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
    summary.audit_verified = bench.audit_verify()
    summary.orphans += len(marked_processes(bench.marker, exclude={os.getpid()}))
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def _tally(summary: Summary, result: RolloutResult) -> None:
    summary.rollouts += 1
    summary.kills += result.kills
    summary.converged += result.converged
    summary.orphans += len(result.orphans)
    if not result.converged or result.orphans:
        summary.failures.append(asdict(result))


def _line(total: int, r: RolloutResult) -> str:
    mark = "ok " if r.converged and not r.orphans else "BAD"
    kind = "good" if r.good else "bad "
    return (
        f"{mark} {r.version:>4}/{total} {kind} kills={r.kills} phase={r.phase}"
        f" exits={r.exit_codes} {r.seconds:.1f}s orphans={len(r.orphans)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=50)
    parser.add_argument("--kill-share", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="safeship-chaos-") as tmp:
        summary = run(
            rollouts=args.rollouts, kill_share=args.kill_share, seed=args.seed, work=Path(tmp)
        )
        if summary.failures:
            print((Path(tmp) / "runs.log").read_text()[-4000:])
    print(
        f"rollouts run {summary.rollouts}, kills {summary.kills}, converged {summary.converged},"
        f" orphans {summary.orphans}, audit verify {'ok' if summary.audit_verified else 'FAILED'},"
        f" {summary.seconds}s"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    ok = summary.converged == summary.rollouts and summary.orphans == 0 and summary.audit_verified
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Post-deploy verification, the I/O half: ask every new replica for its version (HTTP path
or a command) and run the smoke command. The reconciler calls it while a verify step runs
and hands the answer to the planner as `Observations.verification`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from safeship.config.models import VerifySpec
from safeship.core.types import Replica
from safeship.rollout.state import VerifyResult


async def verify(spec: VerifySpec, replicas: Sequence[Replica], version: str) -> VerifyResult:
    """Every replica of `version` reports it; then the smoke command passes on the first."""
    if not replicas:
        return VerifyResult(False, f"no running replica of {version} to verify")
    answers = await asyncio.gather(*(_reported(spec, r) for r in replicas))
    wrong = [
        f"{r.id} reports {a!r}" for r, a in zip(replicas, answers, strict=True) if a != version
    ]
    if wrong:
        return VerifyResult(False, "; ".join(wrong[:5]))
    if spec.smoke:
        ok, output = await _run(spec.smoke, replicas[0], version, spec.timeout)
        if not ok:
            return VerifyResult(False, f"smoke command failed: {output}")
    return VerifyResult(True, f"{len(replicas)} replicas report {version}")


async def _reported(spec: VerifySpec, replica: Replica) -> str:
    if spec.version_command:
        ok, output = await _run(spec.version_command, replica, "", spec.timeout)
        return output.strip() if ok else f"error: {output}"
    path = spec.version_path or "/version"
    try:
        async with httpx.AsyncClient(timeout=spec.timeout, trust_env=False) as client:
            response = await client.get(f"{replica.url}{path}")
    except httpx.HTTPError as exc:
        return f"error: {type(exc).__name__}"
    return response.text.strip() if response.is_success else f"HTTP {response.status_code}"


async def _run(
    argv: Sequence[str], replica: Replica, version: str, limit: float
) -> tuple[bool, str]:
    values = {
        "{host}": replica.host,
        "{port}": str(replica.port),
        "{url}": replica.url,
        "{version}": version or replica.version,
    }
    filled = [_fill(part, values) for part in argv]
    try:
        process = await asyncio.create_subprocess_exec(
            *filled, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    except OSError as exc:
        return False, f"{filled[0]}: {exc.strerror or exc}"
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        return False, f"timed out after {limit:g}s"
    text = output.decode(errors="replace")
    return process.returncode == 0, text if process.returncode == 0 else text[-300:]


def _fill(part: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        part = part.replace(placeholder, value)
    return part

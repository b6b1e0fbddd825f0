"""The simulated world of `safeship simulate`: `--fault` options and the spec's bad versions.

Where it sits: before a flight (`wiring/simulate.py`), the CLI's faults and the per-version
args of the spec (`--error-ratio`, `--latency-ms`, as the demo service takes them) become
the `FleetModel` the simulated fleet, router and metrics source obey.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from safeship.config.models import RolloutSpec
from safeship.core.durations import parse_duration
from safeship.core.errors import UsageError
from safeship.fleet.simulated import FleetModel, VersionBehaviour


class FaultError(UsageError, ValueError):
    """A --fault the simulator cannot read; the message says what was expected."""


def parse_faults(faults: Sequence[str], base: FleetModel) -> FleetModel:
    """Apply each `--fault` to the model, in order (later faults override earlier ones)."""
    model = base
    for fault in faults:
        model = _apply_fault(fault, model)
    return model


def _apply_fault(fault: str, model: FleetModel) -> FleetModel:
    fields = dict(_pairs(fault))
    try:
        if "version" in fields:
            return _version_fault(fields, model)
        if "metrics-down" in fields:
            start = parse_duration(fields.get("from", "0"))
            until = start + parse_duration(fields["for"]) if "for" in fields else float("inf")
            return dataclasses.replace(model, metrics_down=(start, until))
        return _fleet_fault(fields, model)
    except (ValueError, KeyError) as exc:
        raise FaultError(f"--fault {fault!r}: {_reason(exc)}") from exc


def _pairs(fault: str) -> list[tuple[str, str]]:
    return [(k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in fault.split(","))]


def _version_fault(fields: Mapping[str, str], model: FleetModel) -> FleetModel:
    version = fields["version"]
    known = {"error-ratio": "error_ratio", "latency-ms": "latency_ms", "start-fail": "start_fail"}
    _only(fields, {"version", *known})
    now = model.behaviour(version)
    changes = {
        known[k]: float(v) if k == "latency-ms" else _fraction(v)
        for k, v in fields.items()
        if k in known
    }
    behaviours = {**model.behaviours, version: dataclasses.replace(now, **changes)}
    return dataclasses.replace(model, behaviours=behaviours)


def _fleet_fault(fields: Mapping[str, str], model: FleetModel) -> FleetModel:
    _only(fields, {"target-fail", "deploy-time", "deploy-jitter", "rate"})
    get = fields.get
    return dataclasses.replace(
        model,
        target_fail=_fraction(get("target-fail", str(model.target_fail))),
        deploy_time_s=parse_duration(get("deploy-time", str(model.deploy_time_s))),
        deploy_jitter_s=parse_duration(get("deploy-jitter", str(model.deploy_jitter_s))),
        request_rate=float(get("rate", str(model.request_rate))),
    )


def _only(fields: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValueError(f"unknown key {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(f"expected a fraction between 0 and 1, found {text}")
    return value


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]}=..."
    return str(exc)


def behaviours_from_spec(spec: RolloutSpec) -> dict[str, VersionBehaviour]:
    """Read `--error-ratio X` / `--latency-ms Y` from per-version args (as the demo service
    takes them), so a spec's known-bad version behaves badly in the simulator too."""
    found: dict[str, VersionBehaviour] = {}
    for version, overrides in spec.service.versions.items():
        args = overrides.args
        values = {a: args[i + 1] for i, a in enumerate(args[:-1])}
        behaviour = VersionBehaviour(
            error_ratio=float(values.get("--error-ratio", 0.0)),
            latency_ms=max(float(values.get("--latency-ms", 0.0)), VersionBehaviour().latency_ms),
        )
        found[version] = behaviour
    return found

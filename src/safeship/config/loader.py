"""Rollout specs: YAML → a validated RolloutSpec, every error located at file, line and key.

The reading itself (safety limits, line tracking, located errors) is config/documents.py,
shared with safeship.yaml, rule files and rule test files; this module only knows which
model a rollout spec is.
"""

from __future__ import annotations

from pathlib import Path

from safeship.config.documents import load_model
from safeship.config.models import RolloutSpec

__all__ = ["load_model", "load_rollout_spec"]


def load_rollout_spec(path: str | Path) -> RolloutSpec:
    """The rollout spec in `path`; raises ConfigError naming every problem."""
    return load_model(Path(path), RolloutSpec)

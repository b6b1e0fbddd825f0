"""Reading alertmanager.yml files: through the hardened YAML reader, errors at file:line:key.

The edge of alerting/am_config.py (which stays free of file access), and what
`safeship alertmanager check` runs: the verdict `amtool check-config` gives, and the same
summary of what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.config.documents import load_model


def load_alertmanager_config(path: str | Path) -> AlertmanagerConfig:
    """The file validated; ConfigError naming every problem's file, line and key."""
    return load_model(Path(path), AlertmanagerConfig)


@dataclass(frozen=True)
class Summary:
    """What `amtool check-config` reports for a valid file."""

    receivers: int
    routes: int
    inhibit_rules: int
    templates: int
    time_intervals: int

    @classmethod
    def of(cls, config: AlertmanagerConfig) -> Summary:
        routes = sum(1 for _ in config.route.walk()) if config.route is not None else 0
        return cls(
            receivers=len(config.receivers),
            routes=routes,
            inhibit_rules=len(config.inhibit_rules),
            templates=len(config.templates),
            time_intervals=len(config.time_intervals) + len(config.mute_time_intervals),
        )

"""Config files on disk: a rollout spec → RolloutSpec, safeship.yaml → SafeshipConfig,
every error located at file, line and key.

The reading itself (safety limits, line tracking, located errors) is config/documents.py,
shared with rule files and rule test files; this module only knows which model each file
is. The models stay pure: nothing that decides imports a module that opens files.
"""

from __future__ import annotations

import glob
from pathlib import Path

from safeship.config.documents import load_model
from safeship.config.models import RolloutSpec, SafeshipConfig
from safeship.core.errors import ConfigError, ConfigIssue

__all__ = ["load_control_plane", "load_model", "load_rollout_spec"]


def load_rollout_spec(path: str | Path) -> RolloutSpec:
    """The rollout spec in `path`; raises ConfigError naming every problem."""
    return load_model(Path(path), RolloutSpec)


def load_control_plane(path: str | Path | None) -> SafeshipConfig:
    """Read safeship.yaml; no file means every default. Errors name the file, line and key.

    Rule file paths are made relative to the config's folder and plain paths must exist;
    their content is checked by `alerting.manager.load_groups` when they are loaded.
    """
    if path is None:
        return SafeshipConfig()
    config = load_model(Path(path), SafeshipConfig)
    folder = Path(path).parent
    rule_files = [str(folder / pattern) for pattern in config.rule_files]  # absolute stays
    for index, pattern in enumerate(rule_files):
        if not glob.has_magic(pattern) and not Path(pattern).is_file():
            issue = ConfigIssue(str(path), None, f"rule_files[{index}]", pattern, "a rule file")
            raise ConfigError([issue])
    update: dict[str, object] = {"rule_files": rule_files}
    if config.alertmanager_config is not None:
        alertmanager = str(folder / config.alertmanager_config)
        if not Path(alertmanager).is_file():
            issue = ConfigIssue(str(path), None, "alertmanager_config", alertmanager, "a file")
            raise ConfigError([issue])
        update["alertmanager_config"] = alertmanager
    return config.model_copy(update=update)

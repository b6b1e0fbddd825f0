"""Rule files on disk: read them (config/documents.py: limits, file:line:key errors) into the
pure models of rules.py. The only module of alerting that opens a rule file."""

from __future__ import annotations

from pathlib import Path

from safeship.alerting.rules import RuleFile
from safeship.config.documents import load_model


def load_rule_file(path: str | Path) -> RuleFile:
    """The rule file at `path`; ConfigError naming file:line:key for every problem."""
    return load_model(Path(path), RuleFile)

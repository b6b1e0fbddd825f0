"""The rules safeship brings: its packaged default alerts, the SLOs' rules, the runbooks.

Where it sits: `safeship serve` evaluates `control_plane_groups(config)` (the user's
`rule_files`, then the defaults unless `default_rules: false`, then one group per SLO from
alerting/slo.py); `safeship export prometheus-rules` prints the same defaults and SLO
groups as a Prometheus rule file; `safeship runbook ALERT` prints a runbook, and serve
shows it at /runbooks/ALERT (server/runbooks_api.py), where every default alert's
`runbook_url` points unless safeship.yaml's `runbook_url` says otherwise. The default rules
(default_rules.yaml) and runbooks (runbooks/*.md, also docs/runbooks/) are package data,
so an installed safeship reads them without a checkout.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import yaml

from safeship.alerting.manager import LoadedGroup, load_groups
from safeship.alerting.rules import Rule, RuleFile, RuleGroup
from safeship.alerting.slo import promql_duration, slo_groups
from safeship.config.documents import load_model
from safeship.config.metrics import ControlPlaneConfig
from safeship.core.errors import NotFound

DEFAULTS_FILE = "safeship:default_rules"  # how the API and the alert state name them
SLOS_FILE = "safeship:slos"
_PACKAGE = resources.files("safeship.alerting")


def default_rules(*, runbook_url: str) -> RuleFile:
    """The packaged default rules, each alert's `runbook_url` <runbook_url>/<alert>.md."""
    with resources.as_file(_PACKAGE / "default_rules.yaml") as path:
        packaged = load_model(path, RuleFile)
    groups = [_linked(g, runbook_url) for g in packaged.groups]
    return packaged.model_copy(update={"groups": groups})


def _linked(group: RuleGroup, runbook_url: str) -> RuleGroup:
    def link(rule: Rule) -> Rule:
        if not rule.alert:
            return rule
        annotations = {**rule.annotations, "runbook_url": f"{runbook_url}/{rule.alert}.md"}
        return rule.model_copy(update={"annotations": annotations})

    return group.model_copy(update={"rules": [link(r) for r in group.rules]})


def generated_groups(config: ControlPlaneConfig) -> list[LoadedGroup]:
    """The defaults (unless disabled) and the SLO groups of safeship.yaml, in that order."""
    found: list[LoadedGroup] = []
    if config.default_rules:
        defaults = default_rules(runbook_url=config.runbooks_url)
        found += [LoadedGroup(g, DEFAULTS_FILE) for g in defaults.groups]
    slos = slo_groups(config.slos, runbook_url=config.runbooks_url)
    return found + [LoadedGroup(g, SLOS_FILE) for g in slos]


def control_plane_groups(config: ControlPlaneConfig) -> list[LoadedGroup]:
    """Every group `safeship serve` evaluates: the user's rule files, then the generated."""
    return load_groups(config.rule_files) + generated_groups(config)


def runbook_names() -> list[str]:
    """Every alert that has a runbook, sorted."""
    folder = _PACKAGE / "runbooks"
    return sorted(p.name.removesuffix(".md") for p in folder.iterdir() if p.name.endswith(".md"))


def runbook(alert: str) -> str:
    """The runbook of `alert` (Markdown); NotFound lists the alerts that have one."""
    names = runbook_names()
    if alert not in names:
        raise NotFound(f"no runbook for {alert!r}; runbooks exist for: {', '.join(names)}")
    return (_PACKAGE / "runbooks" / f"{alert}.md").read_text(encoding="utf-8")


def rules_yaml(groups: Sequence[RuleGroup]) -> str:
    """A Prometheus rule file of `groups`, as promtool reads it."""
    document = {"groups": [_group_data(g) for g in groups]}
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1000)


def _group_data(group: RuleGroup) -> dict[str, Any]:
    data: dict[str, Any] = {"name": group.name}
    if group.interval is not None:
        data["interval"] = promql_duration(group.interval)
    data["rules"] = [_rule_data(r) for r in group.rules]
    return data


def _rule_data(rule: Rule) -> dict[str, Any]:
    data: dict[str, Any] = {"alert": rule.alert} if rule.alert else {"record": rule.record}
    data["expr"] = rule.expr
    if rule.for_:
        data["for"] = promql_duration(rule.for_)
    if rule.keep_firing_for:
        data["keep_firing_for"] = promql_duration(rule.keep_firing_for)
    if rule.labels:
        data["labels"] = dict(rule.labels)
    if rule.annotations:
        data["annotations"] = dict(rule.annotations)
    return data


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as `|` blocks, the way people write them."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)

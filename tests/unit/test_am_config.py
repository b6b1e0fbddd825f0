"""Alertmanager config files: what `amtool check-config` accepts and refuses, with file:line:key."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.alerting.am_config_files import Summary, load_alertmanager_config
from safeship.core.errors import ConfigError

BASE = """\
route:
  receiver: team
receivers:
  - name: team
"""

GOOD = {
    "minimal": BASE,
    "webhook and apprise": """\
route: {receiver: team, group_by: ['...'], group_wait: 0s, repeat_interval: 1d}
receivers:
  - name: team
    webhook_configs: [{url: 'http://127.0.0.1:9000/hook', send_resolved: false, max_alerts: 5}]
    apprise_configs: [{urls: ['mailto://ops@example.org']}]
""",
    "full tree": """\
global: {resolve_timeout: 1m, smtp_smarthost: 'mail:25', smtp_from: 'am@example.org'}
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: team
  group_by: [alertname, cluster]
  routes:
    - matchers: ['severity=~"page|critical"', 'team!="db"']
      receiver: pager
      continue: true
      mute_time_intervals: [nights]
    - match: {service: db}
      match_re: {cluster: 'eu-.*'}
      receiver: team
      active_time_intervals: [office]
receivers:
  - name: team
    email_configs: [{to: 'team@example.org'}]
  - name: pager
    pagerduty_configs: [{routing_key: abc}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster]
time_intervals:
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:30'}]
        location: Europe/Paris
mute_time_intervals:
  - name: nights
    time_intervals:
      - times: [{start_time: '00:00', end_time: '06:00'}]
        days_of_month: ['1:5', '-3:-1']
        months: ['january:march', '12']
        years: ['2020:2030']
""",
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_files_load(tmp_path: Path, name: str) -> None:
    path = tmp_path / "am.yml"
    path.write_text(GOOD[name])
    config = load_alertmanager_config(path)
    assert config.route is not None and config.route.receiver == "team"


def test_summary_counts_like_amtool(tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(GOOD["full tree"])
    assert Summary.of(load_alertmanager_config(path)) == Summary(
        receivers=2, routes=3, inhibit_rules=1, templates=1, time_intervals=2
    )


TAIL = "receivers:\n  - name: team\n"


def _route(*lines: str) -> str:
    """A root route (receiver team) with more lines under it, then the receivers."""
    return "route:\n  receiver: team\n" + "".join(f"  {line}\n" for line in lines) + TAIL


def _intervals(spec: str) -> str:
    return BASE + f"time_intervals: [{{name: t, time_intervals: [{spec}]}}]\n"


BAD = [
    ("route:\n  receiver: nope\n" + TAIL, 2, "route.receiver"),
    (BASE + "  - name: team\n", 5, "receivers[1].name"),
    (TAIL, 1, "route"),
    ("route: {}\n" + TAIL, 1, "route.receiver"),
    (_route("matchers: ['a=b']"), 3, "route.matchers"),
    (_route("continue: true"), 3, "route.continue"),
    (BASE + "inhibit_rules: [{source_matchers: ['a=~\"[\"']}]\n", 5,
     "inhibit_rules[0].source_matchers"),
    (_route("routes:", "  - matchers: ['a=\"b']"), 4, "route.routes[0].matchers"),
    (_route("routes:", "  - mute_time_intervals: [x]"), 4,
     "route.routes[0].mute_time_intervals[0]"),
    (_route("group_wait: 30"), 3, "route.group_wait"),
    (_route("group_interval: 0s"), 3, "route.group_interval"),
    (_route("group_by: ['...', a]"), 3, "route.group_by"),
    (_route("group_by: [a, a]"), 3, "route.group_by"),
    (_route("match: {'a-b': c}"), 3, "route.match"),
    (_route("recevier: x"), 3, "route.recevier"),
    (BASE + "    webhook_configs: [{send_resolved: true}]\n", 5, "receivers[0].webhook_configs[0]"),
    (BASE + "    webhook_configs: [{url: 'ftp://x/y'}]\n", 5, "receivers[0].webhook_configs[0]"),
    # Alertmanager refuses it since 0.26 (Debian's 0.25 amtool crashes on it)
    (BASE + "    webhook_configs: [~]\n", 5, "receivers[0].webhook_configs[0]"),
    (BASE + "    telegram_configs: [{chat_id: 1}]\n", 5, "receivers[0].telegram_configs[0]"),
    (BASE + "    email_configs: [{to: a@b.c}]\n", 5, "receivers[0].email_configs[0]"),
    (_intervals("{weekdays: [funday]}"), 5, "time_intervals[0].time_intervals[0]"),
    (_intervals("{times: [{start_time: '10:00', end_time: '09:00'}]}"), 5,
     "time_intervals[0].time_intervals[0].times[0]"),
    (_intervals("{location: Mars/Base}"), 5, "time_intervals[0].time_intervals[0]"),
    (BASE + "time_intervals: [{name: t}]\nmute_time_intervals: [{name: t}]\n", 5,
     "time_intervals[0].name"),
    (BASE + "global: {smtp_auth_password: a, smtp_auth_password_file: b}\n", 5, "global"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "key"), BAD)
def test_bad_files_are_refused_at_file_line_key(
    tmp_path: Path, text: str, line: int | None, key: str
) -> None:
    path = tmp_path / "am.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_alertmanager_config(path)
    issue = caught.value.issues[0]
    assert (issue.file, issue.line, issue.key) == (str(path), line, key)

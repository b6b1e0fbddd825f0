"""`safeship alertmanager check` gives the verdict `amtool check-config` gives (Debian's amtool),
on good and bad files alike, and prints the same kind of summary."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed"),
]

RECEIVERS = "receivers:\n  - name: team\n  - name: pager\n"
CASES = {
    "good-minimal": "route: {receiver: team}\n" + RECEIVERS,
    "good-tree": """\
global:
  resolve_timeout: 2m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'am@example.org'
templates: ['/nonexistent/*.tmpl']
route:
  receiver: team
  group_by: [alertname, cluster]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1d
  routes:
    - matchers: ['severity=~"page|critical"', 'team!="db"']
      receiver: pager
      continue: true
      mute_time_intervals: [nights]
    - match: {service: db}
      match_re: {cluster: 'eu-.*'}
      receiver: team
      active_time_intervals: [office]
      group_by: ['...']
receivers:
  - name: team
    email_configs: [{to: 'team@example.org'}]
    webhook_configs:
      - url: 'http://127.0.0.1:9000/hook'
        send_resolved: false
        max_alerts: 10
  - name: pager
    pagerduty_configs: [{routing_key: abc}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster]
  - source_match: {severity: critical}
    target_match_re: {severity: 'warn.*'}
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
    "good-group-by-all": "route: {receiver: team, group_by: ['...'], repeat_interval: 3h}\n"
    + RECEIVERS,
    "good-matchers-braces": "route:\n  receiver: team\n  routes:\n"
    '    - {receiver: pager, matchers: [\'{a="b", c!~"d|e"}\']}\n' + RECEIVERS,
    "good-zero-group-wait": "route: {receiver: team, group_wait: 0s}\n" + RECEIVERS,
    "good-nulls": "route: {receiver: team, routes: ~, group_by: ~}\nglobal: ~\n" + RECEIVERS,
    "good-int-match-value": "route:\n  receiver: team\n  routes:\n"
    "    - {receiver: pager, match: {code: 500}}\n" + RECEIVERS,
    "good-intervals": "route: {receiver: team}\n"
    + RECEIVERS
    + "time_intervals: [{name: t, time_intervals: [{weekdays: [Monday], months: ['1:3'],"
    " days_of_month: ['-1'], times: [{start_time: '23:00', end_time: '24:00'}]}]}]\n",
    "good-millis": "route: {receiver: team, group_wait: 500ms, repeat_interval: 1h30m}\n"
    + RECEIVERS,
    "bad-duration-order": "route: {receiver: team, group_wait: 1s1m}\n" + RECEIVERS,
    "bad-telegram-no-token": "route: {receiver: team}\n"
    "receivers:\n  - name: team\n    telegram_configs: [{chat_id: 1}]\n",
    "bad-email-no-to": "global: {smtp_smarthost: 'a:25', smtp_from: a@b.c}\n"
    "route: {receiver: team}\nreceivers:\n  - name: team\n    email_configs: [{}]\n",
    "bad-sns-no-target": "route: {receiver: team}\n"
    "receivers:\n  - name: team\n    sns_configs: [{}]\n",
    "bad-undefined-receiver": "route: {receiver: nobody}\n" + RECEIVERS,
    "bad-duplicate-receiver": "route: {receiver: team}\n" + RECEIVERS + "  - name: team\n",
    "bad-no-route": RECEIVERS,
    "bad-root-without-receiver": "route: {group_by: [a]}\n" + RECEIVERS,
    "bad-root-matchers": "route: {receiver: team, matchers: ['a=\"b\"']}\n" + RECEIVERS,
    "bad-root-continue": "route: {receiver: team, continue: true}\n" + RECEIVERS,
    "bad-root-mute": "route: {receiver: team, mute_time_intervals: [t]}\n"
    + RECEIVERS
    + "time_intervals: [{name: t}]\n",
    "bad-child-receiver": "route:\n  receiver: team\n  routes:\n    - receiver: ghost\n"
    + RECEIVERS,
    "bad-matcher-quote": "route:\n  receiver: team\n  routes:\n"
    "    - {receiver: pager, matchers: ['a=\"b']}\n" + RECEIVERS,
    "bad-matcher-regex": "route:\n  receiver: team\n  routes:\n"
    "    - {receiver: pager, matchers: ['a=~\"(\"']}\n" + RECEIVERS,
    "bad-match-re-nil": "route:\n  receiver: team\n  routes:\n"
    "    - {receiver: pager, match_re: {a: }}\n" + RECEIVERS,
    "bad-match-label-name": "route:\n  receiver: team\n  routes:\n"
    "    - {receiver: pager, match: {'a-b': c}}\n" + RECEIVERS,
    "bad-unknown-key": "route: {receiver: team, recevier: x}\n" + RECEIVERS,
    "bad-duration": "route: {receiver: team, group_wait: 30}\n" + RECEIVERS,
    "bad-duration-fraction": "route: {receiver: team, group_wait: 1.5m}\n" + RECEIVERS,
    "bad-zero-interval": "route: {receiver: team, group_interval: 0s}\n" + RECEIVERS,
    "bad-group-by-mixed": "route: {receiver: team, group_by: ['...', a]}\n" + RECEIVERS,
    "bad-group-by-duplicate": "route: {receiver: team, group_by: [a, a]}\n" + RECEIVERS,
    "bad-undefined-interval": "route:\n  receiver: team\n  routes:\n"
    "    - {receiver: pager, mute_time_intervals: [nope]}\n" + RECEIVERS,
    "bad-duplicate-interval": "route: {receiver: team}\n"
    + RECEIVERS
    + "time_intervals: [{name: t}]\nmute_time_intervals: [{name: t}]\n",
    "bad-weekday": "route: {receiver: team}\n"
    + RECEIVERS
    + "time_intervals: [{name: t, time_intervals: [{weekdays: [funday]}]}]\n",
    "bad-times": "route: {receiver: team}\n"
    + RECEIVERS
    + "time_intervals: [{name: t, time_intervals: "
    "[{times: [{start_time: '10:00', end_time: '09:00'}]}]}]\n",
    "bad-location": "route: {receiver: team}\n"
    + RECEIVERS
    + "time_intervals: [{name: t, time_intervals: [{location: Mars/Base}]}]\n",
    "bad-webhook-no-url": "route: {receiver: team}\n"
    "receivers:\n  - name: team\n    webhook_configs: [{send_resolved: true}]\n",
    "bad-webhook-scheme": "route: {receiver: team}\n"
    "receivers:\n  - name: team\n    webhook_configs: [{url: 'ftp://host/x'}]\n",
    "bad-email-no-smarthost": "route: {receiver: team}\n"
    "receivers:\n  - name: team\n    email_configs: [{to: a@example.org}]\n",
    "bad-inhibit-matcher": "route: {receiver: team}\n"
    + RECEIVERS
    + "inhibit_rules: [{source_matchers: ['a=\"b'], target_matchers: [c=d]}]\n",
    "bad-receiver-no-name": "route: {receiver: team}\n" + RECEIVERS + "  - webhook_configs: []\n",
    "bad-yaml": "route: {receiver: team\n" + RECEIVERS,
    "bad-empty": "",
}


def _safeship(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "safeship.cli", "alertmanager", "check", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _amtool(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = ["amtool", "check-config", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _verdicts(run: subprocess.CompletedProcess[str]) -> dict[str, bool]:
    """File stem -> passed, from the "Checking 'FILE'  SUCCESS|FAILED" lines both print."""
    found = re.findall(r"Checking '([^']+)'  (SUCCESS|FAILED)", run.stdout + run.stderr)
    return {Path(path).stem: verdict == "SUCCESS" for path, verdict in found}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("alertmanager")
    written = {}
    for name, text in CASES.items():
        written[name] = folder / f"{name}.yml"
        written[name].write_text(text)
    return written


def test_same_verdict_as_amtool_on_every_file(files: dict[str, Path]) -> None:
    amtool, safeship = _amtool(*files.values()), _safeship(*files.values())
    assert _verdicts(safeship) == _verdicts(amtool)
    # the set tests both verdicts: each file's name says what amtool answers
    assert _verdicts(amtool) == {name: name.startswith("good") for name in CASES}
    assert (amtool.returncode, safeship.returncode) == (1, 2)


def test_summary_and_exit_codes(files: dict[str, Path]) -> None:
    good = _safeship(files["good-tree"])
    assert good.returncode == 0
    assert " - 2 inhibit rules" in good.stdout and " - 2 receivers" in good.stdout
    assert " - 1 templates" in good.stdout
    amtool = _amtool(files["good-tree"]).stdout
    assert " - 2 inhibit rules" in amtool and " - 2 receivers" in amtool
    bad = _safeship(files["bad-child-receiver"])
    assert bad.returncode == 2
    assert f"{files['bad-child-receiver']}:4: key 'route.routes[0].receiver'" in bad.stderr

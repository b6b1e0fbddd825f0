"""Receivers in Alertmanager's format (alerting/receivers.py): what is accepted as written,
what is refused and how the refusal points at the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.alerting.am_config_files import load_alertmanager_config
from safeship.alerting.receivers import Receivers
from safeship.config.documents import load_model
from safeship.config.loader import load_control_plane
from safeship.core.errors import ConfigError

CONFIG = """\
route:
  receiver: team
receivers:
- name: team
  webhook_configs:
  - url: http://127.0.0.1:9000/hook
    max_alerts: 5
    timeout: 3s
    http_config:
      authorization:
        credentials_file: /etc/safeship/hook-token
      tls_config:
        insecure_skip_verify: true
  apprise_configs:
  - urls: ["json://127.0.0.1:9001/", "${SLACK_URL}"]
    send_resolved: false
  alertmanager_configs:
  - url: http://127.0.0.1:9093
- name: blackhole
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    return path


def test_an_alertmanager_config_gives_its_receivers_and_leaves_the_rest(tmp_path: Path) -> None:
    receivers = load_model(write(tmp_path, CONFIG), Receivers).by_name()
    team = receivers["team"]
    hook = team.webhook_configs[0]
    assert (hook.send_resolved, hook.max_alerts, hook.timeout) == (True, 5, 3.0)
    assert hook.http_config.authorization is not None
    assert hook.http_config.authorization.type == "Bearer"
    assert team.apprise_configs[0].send_resolved is False
    assert [name for name, _ in team.integrations()] == [
        "webhook_configs[0]",
        "apprise_configs[0]",
        "alertmanager_configs[0]",
    ]
    assert receivers["blackhole"].integrations() == []


def test_an_integration_safeship_sends_through_apprise_is_refused_with_the_url_to_use(
    tmp_path: Path,
) -> None:
    text = "receivers:\n- name: chat\n  slack_configs:\n  - channel: '#ops'\n"
    text += "    api_url: http://slack.example/x\nroute: {receiver: chat}\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_model(path, Receivers)
    shown = str(refused.value)
    assert (
        "slack://" in shown and "alertmanager.yml:4: key 'receivers[0].slack_configs[0]'" in shown
    )
    assert load_alertmanager_config(path).receiver("chat").slack_configs  # amtool's verdict


def test_what_amtool_accepts_and_delivery_cannot_do_is_refused_by_delivery(
    tmp_path: Path,
) -> None:
    text = (
        "route: {receiver: a}\nreceivers:\n- name: a\n  webhook_configs:\n"
        "  - url_file: /etc/hook-url\n  - url: http://h.example/\n"
        "    http_config: {proxy_url: 'http://proxy:3128'}\n"
    )
    path = write(tmp_path, text)
    load_alertmanager_config(path)
    with pytest.raises(ConfigError) as refused:
        load_model(path, Receivers)
    shown = str(refused.value)
    assert "webhook_configs[0].url_file" in shown and "http_config.proxy_url" in shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("receivers:\n- name: a\n- name: a\n", ":3: key 'receivers[1].name'"),
        ("receivers:\n- name: a\n  webhook_configs:\n  - {url: x, max_alerts: -1}\n", ":4"),
        ("receivers:\n- name: a\n  webhook_configs:\n  - {url: x, colour: red}\n", "colour"),
        (
            "receivers:\n- name: a\n  webhook_configs:\n  - url: x\n    http_config:\n"
            "      authorization: {credentials: a, credentials_file: b}\n",
            "found both",
        ),
    ],
)
def test_mistakes_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_model(write(tmp_path, text), Receivers)
    assert expected in str(refused.value)


def test_safeship_yaml_names_an_alertmanager_config_relative_to_itself(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text("alertmanager_config: am.yml\n")
    with pytest.raises(ConfigError, match="alertmanager_config"):
        load_control_plane(config)
    (tmp_path / "am.yml").write_text("route: {receiver: a}\nreceivers: [{name: a}]\n")
    assert load_control_plane(config).alertmanager_config == str(tmp_path / "am.yml")

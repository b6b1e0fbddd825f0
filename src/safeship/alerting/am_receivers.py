"""`global` of an Alertmanager config, and the settings each integration of its `receivers`
needs (the receivers themselves: alerting/receivers.py, the one receiver model, whose
`undeliverable` is delivery's own check)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import model_validator

from safeship.alerting.am_base import AmModel, Problem, PromDuration
from safeship.alerting.receivers import Opaque, Receiver


class GlobalConfig(AmModel):
    """`global`: defaults for the integrations; safeship reads `resolve_timeout` only."""

    resolve_timeout: PromDuration = 300.0
    http_config: dict[str, Any] | None = None
    smtp_from: str | None = None
    smtp_hello: str | None = None
    smtp_smarthost: str | None = None
    smtp_auth_username: str | None = None
    smtp_auth_password: str | None = None
    smtp_auth_password_file: str | None = None
    smtp_auth_secret: str | None = None
    smtp_auth_secret_file: str | None = None
    smtp_auth_identity: str | None = None
    smtp_require_tls: bool = True
    smtp_tls_config: dict[str, Any] | None = None
    smtp_force_implicit_tls: bool | None = None
    slack_api_url: str | None = None
    slack_api_url_file: str | None = None
    slack_app_token: str | None = None
    slack_app_token_file: str | None = None
    slack_app_url: str | None = None
    pagerduty_url: str | None = None
    opsgenie_api_url: str | None = None
    opsgenie_api_key: str | None = None
    opsgenie_api_key_file: str | None = None
    wechat_api_url: str | None = None
    wechat_api_secret: str | None = None
    wechat_api_secret_file: str | None = None
    wechat_api_corp_id: str | None = None
    victorops_api_url: str | None = None
    victorops_api_key: str | None = None
    victorops_api_key_file: str | None = None
    telegram_api_url: str | None = None
    telegram_bot_token: str | None = None
    telegram_bot_token_file: str | None = None
    webex_api_url: str | None = None
    jira_api_url: str | None = None
    rocketchat_api_url: str | None = None
    rocketchat_token: str | None = None
    rocketchat_token_file: str | None = None
    rocketchat_token_id: str | None = None
    rocketchat_token_id_file: str | None = None
    mattermost_webhook_url: str | None = None
    mattermost_webhook_url_file: str | None = None

    @model_validator(mode="after")
    def _one_of_each_pair(self) -> GlobalConfig:
        fields = type(self).model_fields
        for field in fields:
            base = field.removesuffix("_file")
            if base != field and base in fields and getattr(self, field) and getattr(self, base):
                raise ValueError(f"expected at most one of {base} and {field}, found both")
        return self


def integration_problems(g: GlobalConfig, receivers: Sequence[Receiver]) -> Iterator[Problem]:
    """The settings each integration needs, from itself (`x` or `x_file`; `a|b`: either) or,
    where Alertmanager has one, from `global`."""
    needs: dict[str, tuple[tuple[str, object], ...]] = {
        "email_configs": (("to", None), ("smarthost", g.smtp_smarthost), ("from", g.smtp_from)),
        "slack_configs": (("api_url", g.slack_api_url or g.slack_api_url_file
                           or g.slack_app_token or g.slack_app_token_file),),
        "opsgenie_configs": (("api_key", g.opsgenie_api_key or g.opsgenie_api_key_file),),
        "victorops_configs": (("api_key", g.victorops_api_key or g.victorops_api_key_file),
                              ("routing_key", None)),
        "wechat_configs": (("api_secret", g.wechat_api_secret or g.wechat_api_secret_file),
                           ("corp_id", g.wechat_api_corp_id)),
        "pagerduty_configs": (("routing_key|service_key", None),),
        "discord_configs": (("webhook_url", None),),
        "msteams_configs": (("webhook_url", None),),
        "pushover_configs": (("user_key", None), ("token", None)),
        "telegram_configs": (("bot_token", g.telegram_bot_token or g.telegram_bot_token_file),
                             ("chat_id", None)),
        "webex_configs": (("room_id", None),),
        "sns_configs": (("target_arn|topic_arn|phone_number", None),),
    }  # fmt: skip
    for index, receiver in enumerate(receivers):
        for key, settings in needs.items():
            for item, integration in enumerate(getattr(receiver, key)):
                for name, fallback in settings:
                    if not any(_given(integration, n) for n in name.split("|")) and not fallback:
                        at = ("receivers", index, key, item)
                        where = " here or in global" if fallback is not None else ""
                        yield at, f"expected {name.replace('|', ' or ')}{where}", None


def _given(integration: Opaque, name: str) -> bool:
    return bool(integration.get(name) or integration.get(f"{name}_file"))

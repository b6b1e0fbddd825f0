"""Receivers in Alertmanager's configuration format: who is told, through which integrations.

Where it sits: the `receivers:` section of an Alertmanager config file (the routing names a
receiver; the outbox delivers to each of its integrations). Keys are Alertmanager's, as
written: `webhook_configs` (url, send_resolved, max_alerts, timeout, http_config), plus two
safeship extensions: `apprise_configs` (apprise URLs: Slack, email, PagerDuty, Teams,
Telegram, ...) and `alertmanager_configs` (forward the alerts to an external Alertmanager's
API v2). Integrations that Alertmanager has and safeship does not (slack_configs, ...) are
refused with the apprise URL to use instead, never dropped in silence.

Pure: models only; the notifiers read the credential files they name, at send time.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from safeship.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
DEFAULT_TIMEOUT_S = 10.0

# Alertmanager integrations safeship delivers through apprise instead: key → apprise URL.
_THROUGH_APPRISE = {
    "email_configs": "mailto://",
    "slack_configs": "slack://",
    "pagerduty_configs": "pagerduty://",
    "opsgenie_configs": "opsgenie://",
    "msteams_configs": "msteams://",
    "msteamsv2_configs": "workflows://",
    "telegram_configs": "tgram://",
    "discord_configs": "discord://",
    "pushover_configs": "pover://",
    "victorops_configs": "splunk://",
    "webex_configs": "wxteams://",
    "sns_configs": "sns://",
    "wechat_configs": "wecombot://",
    "jira_configs": "json:// (a webhook)",
    "rocketchat_configs": "rocket://",
}


class _Strict(BaseModel):
    # Alertmanager's keys are snake_case already, so no alias generator here.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Authorization(_Strict):
    """`Authorization: <type> <credentials>`; the credentials best kept in a 0600 file."""

    type: str = "Bearer"
    credentials: str | None = None
    credentials_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Authorization:
        if self.credentials is not None and self.credentials_file is not None:
            raise ValueError("expected one of credentials or credentials_file, found both")
        return self


class BasicAuth(_Strict):
    username: str
    password: str | None = None
    password_file: str | None = None


class TlsConfig(_Strict):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False


class HttpConfig(_Strict):
    """The part of Alertmanager's `http_config` safeship honours."""

    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None
    tls_config: TlsConfig = Field(default_factory=TlsConfig)
    follow_redirects: bool = True

    @model_validator(mode="after")
    def _one_auth(self) -> HttpConfig:
        if self.authorization is not None and self.basic_auth is not None:
            raise ValueError("expected one of authorization or basic_auth, found both")
        return self


class WebhookConfig(_Strict):
    """POST Alertmanager's webhook payload (version 4) to `url`."""

    url: str
    send_resolved: bool = True
    max_alerts: int = Field(0, ge=0)  # 0: all of them
    timeout: Duration = Field(DEFAULT_TIMEOUT_S, gt=0)
    http_config: HttpConfig = Field(default_factory=HttpConfig)


class AppriseConfig(_Strict):
    """safeship extension: notify every apprise URL (`${NAME}` reads one from the
    environment; either way each URL is treated as a secret: it usually holds a token)."""

    urls: list[str] = Field(min_length=1)
    send_resolved: bool = True


class AlertmanagerConfig(_Strict):
    """safeship extension: POST the alerts to an external Alertmanager at `url` (API v2)."""

    url: str
    send_resolved: bool = True
    timeout: Duration = Field(DEFAULT_TIMEOUT_S, gt=0)
    http_config: HttpConfig = Field(default_factory=HttpConfig)


Integration = WebhookConfig | AppriseConfig | AlertmanagerConfig


class Receiver(_Strict):
    """A named set of integrations; one with none at all discards what it is sent."""

    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    apprise_configs: list[AppriseConfig] = Field(default_factory=list)
    alertmanager_configs: list[AlertmanagerConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _through_apprise(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in _THROUGH_APPRISE:
                    raise ValueError(
                        f"{key} is not delivered by safeship: use apprise_configs with"
                        f" urls: [{_THROUGH_APPRISE[key]}...]"
                    )
        return data

    def integrations(self) -> list[tuple[str, Integration]]:
        """Each integration with its stable name (`webhook_configs[0]`, ...), the name its
        outbox rows carry."""
        kinds: list[tuple[str, list[Any]]] = [
            ("webhook_configs", self.webhook_configs),
            ("apprise_configs", self.apprise_configs),
            ("alertmanager_configs", self.alertmanager_configs),
        ]
        return [
            (f"{key}[{i}]", config) for key, configs in kinds for i, config in enumerate(configs)
        ]


class Receivers(BaseModel):
    """The `receivers:` section of an Alertmanager config; other sections are left alone."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    receivers: list[Receiver] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Receivers:
        names = [r.name for r in self.receivers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"expected unique receiver names, found {', '.join(twice)} twice")
        return self

    def by_name(self) -> dict[str, Receiver]:
        return {r.name: r for r in self.receivers}

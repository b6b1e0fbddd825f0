"""Receivers in Alertmanager's configuration format: who is told, through which integrations.

Where it sits: the `receivers:` section of an Alertmanager config file. This is the one
receiver model: alerting/am_config.py loads a whole alertmanager.yml with it (the verdict
of `amtool check-config`), and delivery sends through it (the outbox delivers to each of a
receiver's integrations). Keys are Alertmanager's, as written: `webhook_configs` (url or
url_file, send_resolved, max_alerts, timeout, http_config), plus two safeship extensions:
`apprise_configs` (apprise URLs: Slack, email, PagerDuty, Teams, Telegram, ...) and
`alertmanager_configs` (forward the alerts to an external Alertmanager's API v2).
Alertmanager's other integrations (slack_configs, ...) load as mappings, as amtool accepts
them; delivery refuses them (`undeliverable`) with the apprise URL to use instead, so they
are never dropped in silence.

Pure: models only; the notifiers read the credential files they name, at send time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    model_validator,
)

from safeship.alerting.am_base import AmModel, Problem, check_url
from safeship.config.base import located_error
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
    "mattermost_configs": "mmost://",
    "incidentio_configs": "json:// (a webhook)",
}
# ... and whether each sends resolved notifications by default in Alertmanager.
_SENDS_RESOLVED = {
    "email_configs": False,
    "slack_configs": False,
    "wechat_configs": False,
}
Opaque = dict[str, Any]


_Strict = AmModel  # Alertmanager's keys, snake_case; unknown keys are errors


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


class HttpConfig(AmModel):
    """Alertmanager's `http_config`: every key loads (amtool accepts them); delivery honours
    the ones below and refuses the others (`unhonoured`)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None
    tls_config: TlsConfig = Field(default_factory=TlsConfig)
    follow_redirects: bool = True

    @model_validator(mode="after")
    def _one_auth(self) -> HttpConfig:
        if self.authorization is not None and self.basic_auth is not None:
            raise ValueError("expected one of authorization or basic_auth, found both")
        return self

    def unhonoured(self) -> list[str]:
        return sorted(self.model_extra or {})


class WebhookConfig(_Strict):
    """POST Alertmanager's webhook payload (version 4) to `url` (delivery needs `url`;
    `url_file` loads, as amtool accepts it)."""

    url: str | None = None
    url_file: str | None = None
    send_resolved: bool = True
    max_alerts: int = Field(0, ge=0)  # 0: all of them
    timeout: Duration = Field(DEFAULT_TIMEOUT_S, gt=0)
    http_config: HttpConfig = Field(default_factory=HttpConfig)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_file is None):
            raise ValueError("expected one of url or url_file, found both or neither")
        if self.url is not None:
            check_url(self.url)
        return self

    @property
    def target(self) -> str:
        """The URL delivery posts to (`undeliverable` refused url_file before)."""
        assert self.url is not None
        return self.url


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
    discord_configs: list[Opaque] = Field(default_factory=list)
    email_configs: list[Opaque] = Field(default_factory=list)
    incidentio_configs: list[Opaque] = Field(default_factory=list)
    jira_configs: list[Opaque] = Field(default_factory=list)
    mattermost_configs: list[Opaque] = Field(default_factory=list)
    msteams_configs: list[Opaque] = Field(default_factory=list)
    msteamsv2_configs: list[Opaque] = Field(default_factory=list)
    opsgenie_configs: list[Opaque] = Field(default_factory=list)
    pagerduty_configs: list[Opaque] = Field(default_factory=list)
    pushover_configs: list[Opaque] = Field(default_factory=list)
    rocketchat_configs: list[Opaque] = Field(default_factory=list)
    slack_configs: list[Opaque] = Field(default_factory=list)
    sns_configs: list[Opaque] = Field(default_factory=list)
    telegram_configs: list[Opaque] = Field(default_factory=list)
    victorops_configs: list[Opaque] = Field(default_factory=list)
    webex_configs: list[Opaque] = Field(default_factory=list)
    wechat_configs: list[Opaque] = Field(default_factory=list)

    def integrations(self) -> list[tuple[str, Integration]]:
        """Each integration delivery sends through, with its stable name
        (`webhook_configs[0]`, ...), the name its outbox rows carry."""
        kinds: list[tuple[str, list[Any]]] = [
            ("webhook_configs", self.webhook_configs),
            ("apprise_configs", self.apprise_configs),
            ("alertmanager_configs", self.alertmanager_configs),
        ]
        return [
            (f"{key}[{i}]", config) for key, configs in kinds for i, config in enumerate(configs)
        ]

    def sends_resolved(self) -> bool:
        """Whether an integration wants resolved notifications (delivery filters per one)."""
        own = [config.send_resolved for _, config in self.integrations()]
        for key in _THROUGH_APPRISE:
            default = _SENDS_RESOLVED.get(key, True)
            own += [bool(c.get("send_resolved", default)) for c in getattr(self, key)]
        return any(own)

    def undeliverable(self) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
        """What delivery cannot send, as (key path under the receiver, message, input)."""
        for key, url in _THROUGH_APPRISE.items():
            for index, config in enumerate(getattr(self, key)):
                yield (
                    (key, index),
                    f"{key} is not delivered by safeship: use apprise_configs with"
                    f" urls: [{url}...]",
                    config,
                )
        for index, hook in enumerate(self.webhook_configs):
            if hook.url is None:
                at = ("webhook_configs", index, "url_file")
                yield at, "expected url: delivery reads no url_file", hook.url_file
        http: list[tuple[str, int, HttpConfig]] = [
            *(("webhook_configs", i, c.http_config) for i, c in enumerate(self.webhook_configs)),
            *(
                ("alertmanager_configs", i, c.http_config)
                for i, c in enumerate(self.alertmanager_configs)
            ),
        ]
        honoured = "authorization, basic_auth, tls_config, follow_redirects"
        for kind, index, config in http:
            for extra in config.unhonoured():
                where = (kind, index, "http_config", extra)
                yield where, f"expected one of {honoured}: delivery does not honour it", extra


class Receivers(BaseModel):
    """The `receivers:` of an Alertmanager config as delivery takes them (other sections are
    left alone): names unique, every integration one safeship sends through."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    receivers: list[Receiver] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _deliverable(cls, data: Any, handler: ModelWrapValidatorHandler[Receivers]) -> Any:
        found = handler(data)
        names = [r.name for r in found.receivers]
        problems: list[Problem] = [
            (("receivers", index, "name"), "expected a unique name", name)
            for index, name in enumerate(names)
            if name in names[:index]
        ]
        problems += [
            (("receivers", index, *at), message, value)
            for index, receiver in enumerate(found.receivers)
            for at, message, value in receiver.undeliverable()
        ]
        if problems:
            raise located_error(cls.__name__, problems)
        return found

    def by_name(self) -> dict[str, Receiver]:
        return {r.name: r for r in self.receivers}

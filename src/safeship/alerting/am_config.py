"""Alertmanager's configuration file as pydantic models, checked as `amtool check-config` does.

Where it sits: the user's language for "alerts ─▶ routes ─▶ notifications" (DESIGN §2). An
operator's alertmanager.yml loads as it is (alerting/am_config_files.py reads it through the
hardened YAML reader): `global`, `route` (receiver, group_by with `...`, matchers and the
deprecated match/match_re, continue, group_wait/group_interval/repeat_interval inherited
down the tree, mute/active time intervals), `receivers` (webhook_configs in full, the other
integrations kept as validated mappings, and safeship's `apprise_configs` extension),
`inhibit_rules`, `time_intervals` (and the deprecated `mute_time_intervals`), `templates`.
Unknown keys are refused, as Alertmanager's strict YAML decoding does; the checks that span
sections (undefined receiver, duplicate names, the root route's rules) name the key at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    field_validator,
    model_validator,
)

from safeship.alerting.matchers import Matcher, Op, parse_matchers, sort_matchers
from safeship.alerting.time_intervals import TimeInterval
from safeship.config.base import located_error
from safeship.metrics.regex import RegexError, compile_anchored

Problem = tuple[tuple[str | int, ...], str, Any]
LEGACY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PROM_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)


def parse_prom_duration(value: Any) -> float:
    """Seconds in a Prometheus duration ("30s", "1h30m", "0"): units in order, no fractions."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise ValueError(f"expected a duration like '30s' or '5m', found {value!r}")
    if text == "0":
        return 0.0
    found = _PROM_DURATION.fullmatch(text)
    if not text or found is None:
        raise ValueError(f"expected a duration like '30s', '5m' or '1h30m', found {text!r}")
    return sum(int(n) * unit for n, unit in zip(found.groups(), _DURATION_UNITS, strict=True) if n)


def _scalar_text(value: Any) -> Any:
    """YAML gives 1 for `- 1`; Alertmanager reads these fields as strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


PromDuration = Annotated[float, BeforeValidator(parse_prom_duration)]
Text = Annotated[str, BeforeValidator(_scalar_text)]


class AmModel(BaseModel):
    """Alertmanager's keys are snake_case, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http or https URL, found scheme {parts.scheme!r}")
    if not parts.netloc:
        raise ValueError("expected a URL with a host, found none")
    return url


def _check_matchers(lines: list[str]) -> list[str]:
    for line in lines:
        parse_matchers(line)  # raises MatcherError (a ValueError) with Alertmanager's reason
    return lines


def _check_legacy_names(mapping: dict[str, str]) -> dict[str, str]:
    for name in mapping:
        if not LEGACY_NAME.fullmatch(name):
            raise ValueError(f"expected a label name like [a-zA-Z_][a-zA-Z0-9_]*, found {name!r}")
    return mapping


def _check_regexes(mapping: dict[str, str]) -> dict[str, str]:
    _check_legacy_names(mapping)
    for pattern in mapping.values():
        try:
            compile_anchored(pattern)
        except RegexError as exc:
            raise ValueError(str(exc)) from None
    return mapping


def _matchers(equal: dict[str, str], regex: dict[str, str], lines: list[str]) -> list[Matcher]:
    found = [Matcher.of(k, Op.EQUAL, v) for k, v in equal.items()]
    found += [Matcher.of(k, Op.REGEX, v) for k, v in regex.items()]
    found += [m for line in lines for m in parse_matchers(line)]
    return list(sort_matchers(found))


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


class WebhookConfig(AmModel):
    send_resolved: bool = True
    http_config: dict[str, Any] | None = None
    url: str | None = None
    url_file: str | None = None
    max_alerts: int = Field(default=0, ge=0)
    timeout: PromDuration | None = None

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_file is None):
            raise ValueError("expected one of url or url_file, found both or neither")
        if self.url is not None:
            _check_url(self.url)
        return self


class AppriseConfig(AmModel):
    """safeship's extension: notify through apprise URLs (slack://, mailto://, ...)."""

    urls: list[str] = Field(min_length=1)
    send_resolved: bool = True


# Integrations kept as mappings (delivery reads what it supports), with their
# send_resolved default in Alertmanager.
OPAQUE_INTEGRATIONS = {
    "discord_configs": True,
    "email_configs": False,
    "incidentio_configs": True,
    "jira_configs": True,
    "mattermost_configs": True,
    "msteams_configs": True,
    "msteamsv2_configs": True,
    "opsgenie_configs": True,
    "pagerduty_configs": True,
    "pushover_configs": True,
    "rocketchat_configs": True,
    "slack_configs": False,
    "sns_configs": True,
    "telegram_configs": True,
    "victorops_configs": True,
    "webex_configs": True,
    "wechat_configs": False,
}
Integration = dict[str, Any]


class ReceiverConfig(AmModel):
    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = []
    apprise_configs: list[AppriseConfig] = []
    discord_configs: list[Integration] = []
    email_configs: list[Integration] = []
    incidentio_configs: list[Integration] = []
    jira_configs: list[Integration] = []
    mattermost_configs: list[Integration] = []
    msteams_configs: list[Integration] = []
    msteamsv2_configs: list[Integration] = []
    opsgenie_configs: list[Integration] = []
    pagerduty_configs: list[Integration] = []
    pushover_configs: list[Integration] = []
    rocketchat_configs: list[Integration] = []
    slack_configs: list[Integration] = []
    sns_configs: list[Integration] = []
    telegram_configs: list[Integration] = []
    victorops_configs: list[Integration] = []
    webex_configs: list[Integration] = []
    wechat_configs: list[Integration] = []

    def sends_resolved(self) -> bool:
        """Whether an integration wants resolved notifications (delivery filters per one)."""
        own = [c.send_resolved for c in self.webhook_configs]
        own += [c.send_resolved for c in self.apprise_configs]
        for key, default in OPAQUE_INTEGRATIONS.items():
            own += [bool(c.get("send_resolved", default)) for c in getattr(self, key)]
        return any(own)


class RouteConfig(AmModel):
    receiver: str | None = None
    group_by: list[str] | None = None
    match: dict[str, str] | None = None
    match_re: dict[str, str] | None = None
    matchers: list[str] | None = None
    mute_time_intervals: list[str] = []
    active_time_intervals: list[str] = []
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = []
    group_wait: PromDuration | None = None
    group_interval: PromDuration | None = None
    repeat_interval: PromDuration | None = None

    @field_validator("match")
    @classmethod
    def check_match(cls, value: dict[str, str] | None) -> dict[str, str]:
        return _check_legacy_names(value or {})

    @field_validator("match_re")
    @classmethod
    def check_match_re(cls, value: dict[str, str] | None) -> dict[str, str]:
        return _check_regexes(value or {})

    @field_validator("matchers")
    @classmethod
    def check_matchers(cls, value: list[str] | None) -> list[str]:
        return _check_matchers(value or [])

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if "..." in value and len(value) > 1:
            raise ValueError("expected '...' alone or label names, found both")
        for name in value:
            if name == "" or value.count(name) > 1:
                raise ValueError(f"expected each label name once, found {name!r}")
        return value

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _not_zero(cls, value: float | None) -> float | None:
        if value == 0:
            raise ValueError("expected a duration above zero, found 0")
        return value

    def all_matchers(self) -> list[Matcher]:
        """match, match_re and matchers as one sorted list, as Alertmanager's route keeps them."""
        return _matchers(self.match or {}, self.match_re or {}, self.matchers or [])

    def walk(
        self, at: tuple[str | int, ...] = ("route",)
    ) -> Iterator[tuple[tuple[str | int, ...], RouteConfig]]:
        yield at, self
        for index, child in enumerate(self.routes):
            yield from child.walk((*at, "routes", index))


class InhibitRuleConfig(AmModel):
    source_match: dict[str, str] | None = None
    source_match_re: dict[str, str] | None = None
    source_matchers: list[str] | None = None
    target_match: dict[str, str] | None = None
    target_match_re: dict[str, str] | None = None
    target_matchers: list[str] | None = None
    equal: list[str] = []

    @field_validator("source_match", "target_match")
    @classmethod
    def check_match(cls, value: dict[str, str] | None) -> dict[str, str]:
        return _check_legacy_names(value or {})

    @field_validator("source_match_re", "target_match_re")
    @classmethod
    def check_match_re(cls, value: dict[str, str] | None) -> dict[str, str]:
        return _check_regexes(value or {})

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def check_matchers(cls, value: list[str] | None) -> list[str]:
        return _check_matchers(value or [])

    def sources(self) -> list[Matcher]:
        return _matchers(
            self.source_match or {}, self.source_match_re or {}, self.source_matchers or []
        )

    def targets(self) -> list[Matcher]:
        return _matchers(
            self.target_match or {}, self.target_match_re or {}, self.target_matchers or []
        )


_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")  # fmt: skip
_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")


class TimeRangeConfig(AmModel):
    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeConfig:
        start, end = _minutes(self.start_time), _minutes(self.end_time)
        if start >= end:
            raise ValueError("expected start_time before end_time, found it equal or after")
        return self

    def minutes(self) -> tuple[int, int]:
        return _minutes(self.start_time), _minutes(self.end_time)


def _minutes(text: str) -> int:
    if not _CLOCK.fullmatch(text):
        raise ValueError(f"expected a time of day like '09:30', found {text!r}")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _range(text: str, member: Any) -> tuple[int, int]:
    lowered = text.lower()
    parts = lowered.split(":") if ":" in lowered else [lowered, lowered]
    if len(parts) != 2:
        raise ValueError(f"expected a range like 'a:b', found {text!r}")
    return member(parts[0]), member(parts[1])


def _weekday(text: str) -> int:
    if text not in _WEEKDAYS:
        raise ValueError(f"expected a weekday like 'monday', found {text!r}")
    return _WEEKDAYS.index(text)


def _month(text: str) -> int:
    return _MONTHS.index(text) + 1 if text in _MONTHS else _number(text)


def _number(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"expected a number, found {text!r}")
    return int(text)


class TimeIntervalConfig(AmModel):
    times: list[TimeRangeConfig] | None = None
    weekdays: list[Text] | None = None
    days_of_month: list[Text] | None = None
    months: list[Text] | None = None
    years: list[Text] | None = None
    location: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> TimeIntervalConfig:
        self.compile()
        return self

    def compile(self) -> TimeInterval:
        """The pure form (alerting/time_intervals.py); ValueError when a range is invalid."""
        weekdays = [_ordered(_range(w, _weekday), "weekday") for w in self.weekdays or []]
        months = [_ordered(_range(m, _month), "month") for m in self.months or []]
        for begin, end in months:
            if not (1 <= begin <= 12 and 1 <= end <= 12):
                raise ValueError(f"expected months 1 to 12, found {begin}:{end}")
        years = [_ordered(_range(y, _number), "year") for y in self.years or []]
        days = [_day_range(d) for d in self.days_of_month or []]
        return TimeInterval(
            times=None if self.times is None else tuple(t.minutes() for t in self.times),
            weekdays=None if self.weekdays is None else tuple(weekdays),
            days_of_month=None if self.days_of_month is None else tuple(days),
            months=None if self.months is None else tuple(months),
            years=None if self.years is None else tuple(years),
            location=None if self.location is None else _location(self.location),
        )


def _ordered(pair: tuple[int, int], what: str) -> tuple[int, int]:
    if pair[0] > pair[1]:
        raise ValueError(f"expected the start {what} before the end, found {pair[0]}:{pair[1]}")
    return pair


def _day_range(text: str) -> tuple[int, int]:
    begin, end = _range(text, _number)
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"expected a day of the month, found {day}")
    if begin < 0 < end:
        raise ValueError("expected a negative end day with a negative start day")
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise ValueError(f"expected the start day before the end, found {text!r}")
    return begin, end


def _location(name: str) -> tzinfo:
    if name == "Local":
        found = datetime.now().astimezone().tzinfo
        assert found is not None
        return found
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected a time zone like 'Europe/Paris', found {name!r}") from None


class NamedTimeIntervals(AmModel):
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalConfig] = []

    def compile(self) -> tuple[TimeInterval, ...]:
        return tuple(t.compile() for t in self.time_intervals)


class AlertmanagerConfig(AmModel):
    """An alertmanager.yml; `check` problems raise located errors at load."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    route: RouteConfig | None = None
    inhibit_rules: list[InhibitRuleConfig] = []
    receivers: list[ReceiverConfig] = []
    templates: list[str] = []
    mute_time_intervals: list[NamedTimeIntervals] = []
    time_intervals: list[NamedTimeIntervals] = []
    tracing: dict[str, Any] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _cross_checks(
        cls, data: Any, handler: ModelWrapValidatorHandler[AlertmanagerConfig]
    ) -> Any:
        config = handler(data)
        problems = list(config._problems())
        if problems:
            raise located_error(cls.__name__, problems)
        return config

    def receiver(self, name: str) -> ReceiverConfig:
        return next(r for r in self.receivers if r.name == name)

    def intervals(self) -> dict[str, tuple[TimeInterval, ...]]:
        """Every named time interval (both lists share one namespace)."""
        return {t.name: t.compile() for t in (*self.mute_time_intervals, *self.time_intervals)}

    def _problems(self) -> Iterator[Problem]:
        yield from self._name_problems()
        if self.route is None:
            yield ("route",), "expected a route, found none", None
            return
        yield from self._root_problems(self.route)
        receivers = {r.name for r in self.receivers}
        intervals = {t.name for t in (*self.mute_time_intervals, *self.time_intervals)}
        for at, route in self.route.walk():
            if route.receiver is not None and route.receiver not in receivers:
                yield (*at, "receiver"), "expected a receiver defined in receivers", route.receiver
            for key in ("mute_time_intervals", "active_time_intervals"):
                for index, name in enumerate(getattr(route, key)):
                    if name not in intervals:
                        yield (*at, key, index), "expected a defined time interval", name
        yield from self._integration_problems()

    def _name_problems(self) -> Iterator[Problem]:
        seen: set[str] = set()
        for index, receiver in enumerate(self.receivers):
            if receiver.name in seen:
                yield ("receivers", index, "name"), "expected a unique name", receiver.name
            seen.add(receiver.name)
        seen = set()
        for key in ("mute_time_intervals", "time_intervals"):
            for index, named in enumerate(getattr(self, key)):
                if named.name in seen:
                    yield (key, index, "name"), "expected a unique name", named.name
                seen.add(named.name)

    def _root_problems(self, root: RouteConfig) -> Iterator[Problem]:
        if not root.receiver:
            yield ("route", "receiver"), "expected a default receiver on the root route", None
        if root.continue_:
            yield ("route", "continue"), "expected no continue on the root route", True
        for key in (
            "match",
            "match_re",
            "matchers",
            "mute_time_intervals",
            "active_time_intervals",
        ):
            if getattr(root, key):
                yield ("route", key), "expected no matchers or time intervals on the root", key

    def _integration_problems(self) -> Iterator[Problem]:
        """The integrations' settings that must come from themselves or from `global`."""
        g = self.global_
        needs = {
            "email_configs": (("smarthost", g.smtp_smarthost), ("from", g.smtp_from)),
            "slack_configs": (("api_url", g.slack_api_url or g.slack_api_url_file
                               or g.slack_app_token or g.slack_app_token_file),),
            "opsgenie_configs": (("api_key", g.opsgenie_api_key or g.opsgenie_api_key_file),),
            "victorops_configs": (("api_key", g.victorops_api_key or g.victorops_api_key_file),),
            "wechat_configs": (("api_secret", g.wechat_api_secret or g.wechat_api_secret_file),
                               ("corp_id", g.wechat_api_corp_id)),
        }  # fmt: skip
        for index, receiver in enumerate(self.receivers):
            for key, settings in needs.items():
                for item, integration in enumerate(getattr(receiver, key)):
                    for name, fallback in settings:
                        if not _given(integration, name) and not fallback:
                            at = ("receivers", index, key, item)
                            yield at, f"expected {name} here or in global", None
            for item, pagerduty in enumerate(receiver.pagerduty_configs):
                if not any(_given(pagerduty, k) for k in ("routing_key", "service_key")):
                    at = ("receivers", index, "pagerduty_configs", item)
                    yield at, "expected routing_key or service_key", None


def _given(integration: Integration, name: str) -> bool:
    return bool(integration.get(name) or integration.get(f"{name}_file"))


RouteConfig.model_rebuild()

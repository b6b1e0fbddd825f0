"""`remote_write:` in safeship.yaml: where `safeship serve` pushes its samples, as Prometheus does.

Where it sits: `config/metrics.py` reads a list of these into `ControlPlaneConfig`;
`wiring/remote_write.py` starts one queue (metrics/remote_out.py) per entry. Keys are
Prometheus' own snake_case ones (url, name, remote_timeout, bearer_token(_file), basic_auth,
tls_config, write_relabel_configs, queue_config), so a block can be pasted from
prometheus.yml; what safeship does not do (sharding, metadata, exemplars) has no key.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from safeship.config.scrape import Duration, RelabelConfig


class _Prometheus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueConfig(_Prometheus):
    """How samples wait and are sent; Prometheus' defaults."""

    capacity: Annotated[int, Field(ge=1)] = 10_000  # samples read from the WAL at most at once
    max_samples_per_send: Annotated[int, Field(ge=1)] = 2_000
    batch_send_deadline: Duration = 5.0  # a batch not full is sent after this long
    min_backoff: Duration = 0.03
    max_backoff: Duration = 5.0
    retry_on_http_429: bool = True

    @model_validator(mode="after")
    def _backoffs(self) -> QueueConfig:
        if self.min_backoff > self.max_backoff:
            raise ValueError("expected min_backoff <= max_backoff")
        return self


class BasicAuth(_Prometheus):
    username: str
    password: SecretStr | None = None
    password_file: str | None = None


class TlsConfig(_Prometheus):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("expected both cert_file and key_file, or neither")
        return self


class RemoteWriteConfig(_Prometheus):
    url: str
    name: str | None = None  # names the queue in metrics and its position file
    remote_timeout: Duration = 30.0
    bearer_token: SecretStr | None = None
    bearer_token_file: str | None = None
    basic_auth: BasicAuth | None = None
    tls_config: TlsConfig | None = None
    write_relabel_configs: list[RelabelConfig] = []
    queue_config: QueueConfig = QueueConfig()

    @model_validator(mode="after")
    def _valid(self) -> RemoteWriteConfig:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s):// url, found {self.url!r}")
        given = [self.bearer_token, self.bearer_token_file, self.basic_auth]
        if sum(x is not None for x in given) > 1:
            raise ValueError("expected at most one of bearer_token, bearer_token_file, basic_auth")
        return self

    @property
    def queue_name(self) -> str:
        """`name`, else a short hash of the url (as Prometheus names its queues)."""
        if self.name:
            return self.name
        return hashlib.sha256(self.url.encode()).hexdigest()[:6]

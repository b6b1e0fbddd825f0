"""What /api/v1 takes and answers, as pydantic models: the OpenAPI schema is generated from them.

Plain pydantic, no FastAPI, so the CLI's client (`cli/remote.py`) parses answers with the same
models the server answers with. A rollout answers with every field of its stored record (the
CLI rebuilds a `RolloutRecord` from it) plus what a reader wants without parsing the status:
step, weight, last verdict and message.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, Field

from safeship.alerting.silences import Silence
from safeship.rollout.journal import from_record
from safeship.store.outbox import OutboxRow, OutboxStatus
from safeship.store.records import AuditEntry, AuditVerification, RolloutRecord, RolloutResult
from safeship.store.tokens import NAME, Role, TokenRecord


class ErrorBody(BaseModel):
    """Every refusal: the error category's HTTP status, and a message for a person."""

    status: Literal["error"] = "error"
    errorType: str
    error: str


class RolloutSummary(BaseModel):
    """A rollout as listed: identity, outcome, and where it stands."""

    id: str
    service: str
    from_version: str | None
    to_version: str
    strategy: str
    actor: str
    phase: str
    created_at: float
    updated_at: float
    finished_at: float | None
    result: RolloutResult | None
    reason: str
    steps_hash: str
    step: int = Field(description="Index of the current step, from 0.")
    canary_weight: float = Field(description="Percent of traffic routed to the new version.")
    last_verdict: str | None = Field(description="Outcome of the newest analysis judgement.")
    message: str
    status: dict[str, Any] = Field(description="The planner's persisted status, secrets masked.")

    @classmethod
    def of(cls, record: RolloutRecord) -> RolloutSummary:
        st = from_record(record)
        verdict = st.last_judgement.outcome.value if st.last_judgement else None
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        fields.pop("spec")
        return cls(
            **{**fields, "status": dict(record.status)},
            step=st.step_index,
            canary_weight=st.canary_weight,
            last_verdict=verdict,
            message=st.message,
        )

    def record(self, spec: dict[str, Any] | None = None) -> RolloutRecord:
        """The stored record this was made from (`spec` only comes with a detail)."""
        names = {f.name for f in dataclasses.fields(RolloutRecord)} - {"spec"}
        values = {k: v for k, v in self.model_dump().items() if k in names}
        return RolloutRecord(**values, spec=spec or {})


class RolloutDetail(RolloutSummary):
    """One rollout: the summary and the spec it runs (secrets masked)."""

    spec: dict[str, Any]

    @classmethod
    def of(cls, record: RolloutRecord) -> RolloutDetail:
        return cls(**RolloutSummary.of(record).model_dump(), spec=dict(record.spec))


class ActionBody(BaseModel):
    """Why, for the audit log (the actor is the token's name, never a field of the body)."""

    reason: str = Field("", max_length=2000)


class PromoteBody(ActionBody):
    full: bool = Field(False, description="Skip every remaining step.")


class RollbackBody(ActionBody):
    strategy: Literal["fast", "gradual"] = Field(
        "fast", description="fast: everything at once; gradual: in waves, stopping if cleared."
    )


class ActionAccepted(BaseModel):
    """A queued request: the rollout's controller applies it within about a second."""

    rollout: str
    action: str
    request_id: int
    actor: str


class AuditEntryView(BaseModel):
    id: int
    ts: float
    actor: str
    action: str
    rollout_id: str | None
    service: str | None
    reason: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryView:
        return cls(**{**dataclasses.asdict(entry), "details": dict(entry.details)})

    def entry(self) -> AuditEntry:
        return AuditEntry(**self.model_dump())


class AuditVerificationView(BaseModel):
    ok: bool
    checked: int
    checkpoints: int
    broken_id: int | None
    problem: str | None
    tampering: str | None

    @classmethod
    def of(cls, result: AuditVerification) -> AuditVerificationView:
        return cls(**dataclasses.asdict(result))


class TokenView(BaseModel):
    """A token as listed: never the token, nor its hash."""

    name: str
    role: Role
    created_at: float
    created_by: str
    last_used_at: float | None

    @classmethod
    def of(cls, record: TokenRecord) -> TokenView:
        values = dataclasses.asdict(record)
        values.pop("id")
        return cls(**values)


class TokenCreate(BaseModel):
    name: str = Field(pattern=f"^{NAME.pattern}$")  # the store's rule, so 422 before 400
    role: Role


class TokenCreated(TokenView):
    token: str = Field(description="The token itself: shown this once, stored nowhere.")


VERSION = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$"


class DeployBody(BaseModel):
    """`safeship deploy`: move a service of safeship.yaml to a version."""

    service: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    version: str = Field(pattern=VERSION)


class ServiceSummary(BaseModel):
    """A service declared in safeship.yaml and where it stands."""

    name: str
    strategy: str
    replicas: int
    stable_version: str | None = Field(description="The version serving when no rollout runs.")
    active_rollout: str | None = Field(description="The unfinished rollout's id, if any.")


class SilenceView(BaseModel):
    """A silence as listed, with its state at the time of the answer."""

    id: str
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float
    state: Literal["pending", "active", "expired"]

    @classmethod
    def of(cls, silence: Silence, *, now: float) -> SilenceView:
        return cls(
            id=silence.id,
            matchers=[str(m) for m in silence.matchers],
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_by=silence.created_by,
            comment=silence.comment,
            updated_at=silence.updated_at,
            state=silence.state(now).value,
        )


class SilenceCreate(BaseModel):
    """A new silence from now: Alertmanager matchers (`severity="page"`), all must match."""

    matchers: list[str] = Field(min_length=1, max_length=64)
    duration_s: float = Field(gt=0, le=10 * 365 * 86400)
    comment: str = Field(min_length=1, max_length=4096)
    author: str | None = Field(default=None, max_length=128)


class NotificationView(BaseModel):
    """One notification in the outbox (its alerts are not listed): where it goes, how its
    delivery stands, and the last error (secrets masked)."""

    id: int
    notification_id: str = Field(description="Sent as X-Safeship-Notification-Id.")
    receiver: str
    integration: str
    group_key: str
    sequence: int
    status: OutboxStatus
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def of(cls, row: OutboxRow) -> NotificationView:
        fields = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
        fields.pop("payload")
        return cls(**fields)

    def row(self) -> OutboxRow:
        return OutboxRow(**self.model_dump(), payload={})

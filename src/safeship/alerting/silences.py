"""Silences: matchers and a time span; an alert matching an active silence is not notified.

Semantics of Alertmanager's silence/silence.go: a silence is pending before `starts_at`,
expired after `ends_at`, active in between (both ends included); it needs at least one
matcher, and not only matchers that match the empty string (those would silence
everything); `ends_at` is not before `starts_at`. Expiring an active silence sets its end
to now; a pending one starts and ends now. The store keeps them (store/silences.py); this
module decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from safeship.core.errors import Conflict, InvalidInput
from safeship.core.matchers import Matcher, MatcherError, matches_all, parse_matcher


class SilenceState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float  # epoch seconds
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> SilenceState:
        if now < self.starts_at:
            return SilenceState.PENDING
        if now > self.ends_at:
            return SilenceState.EXPIRED
        return SilenceState.ACTIVE

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.state(now) is SilenceState.ACTIVE and matches_all(self.matchers, labels)


def parse_silence_matchers(texts: Sequence[str]) -> tuple[Matcher, ...]:
    """The `--matcher` arguments of a silence; MatcherError says which one is wrong."""
    found = tuple(parse_matcher(t) for t in texts)
    check_matchers(found)
    return found


def check_matchers(matchers: Sequence[Matcher]) -> None:
    if not matchers:
        raise MatcherError("a silence needs at least one matcher")
    if all(m.matches_empty() for m in matchers):
        raise MatcherError("at least one matcher must not match the empty string")


def check_span(starts_at: float, ends_at: float) -> None:
    if ends_at < starts_at:
        raise InvalidInput("a silence cannot end before it starts")


def silenced(labels: Mapping[str, str], silences: Sequence[Silence], now: float) -> bool:
    return any(s.mutes(labels, now) for s in silences)


def expired(silence: Silence, now: float) -> Silence:
    """The silence made to end now (or at its start, if still pending)."""
    state = silence.state(now)
    if state is SilenceState.EXPIRED:
        raise Conflict(f"silence {silence.id} has already expired")
    start = now if state is SilenceState.PENDING else silence.starts_at
    return replace(silence, starts_at=start, ends_at=now, updated_at=now)

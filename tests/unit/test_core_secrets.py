"""Secrets in specs: references resolved from the environment, known values masked everywhere."""

from __future__ import annotations

import logging

import pytest

from safeship.config.models import ServiceSpec
from safeship.core.errors import ConfigError
from safeship.core.secrets import (
    MASK,
    ScrubbingFilter,
    Secrets,
    redact,
    register_env,
    resolve_env,
    scrub,
)


def test_references_resolve_from_the_environment_and_literals_stay() -> None:
    env = {"A": "${X}", "B": "plain", "C": "$X", "D": "${X}y"}
    assert resolve_env(env, environ={"X": "v"}) == {"A": "v", "B": "plain", "C": "$X", "D": "${X}y"}


def test_an_unset_reference_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"service.env.A.*\$NOPE set"):
        resolve_env({"A": "${NOPE}"}, environ={})


@pytest.mark.parametrize(
    ("value", "stored"),
    [({"secretRef": "DB_PASSWORD"}, "${DB_PASSWORD}"), ("${DB_PASSWORD}", "${DB_PASSWORD}")],
)
def test_secret_ref_is_a_reference(value: object, stored: str) -> None:
    spec = ServiceSpec.model_validate({"name": "s", "command": ["x"], "env": {"P": value}})
    assert spec.env == {"P": stored}


def test_a_secret_ref_that_names_no_variable_is_refused() -> None:
    with pytest.raises(ValueError, match="secretRef"):
        ServiceSpec.model_validate(
            {"name": "s", "command": ["x"], "env": {"P": {"secretRef": "a b"}}}
        )


def test_registered_values_are_masked_in_any_text_and_redact_keeps_references() -> None:
    register_env(
        {"API_TOKEN": "tok-unit-1", "DB": "${UNIT_REF}", "HOME_DIR": "/home"},
        environ={"UNIT_REF": "ref-unit-2"},
    )
    assert scrub("a tok-unit-1 b ref-unit-2 c /home") == f"a {MASK} b {MASK} c /home"
    stored = redact(
        {"env": {"API_TOKEN": "tok-unit-1", "DB_PASSWORD": "${UNIT_REF}"}, "args": ["ref-unit-2"]}
    )
    assert stored == {"env": {"API_TOKEN": MASK, "DB_PASSWORD": "${UNIT_REF}"}, "args": [MASK]}


def test_short_values_are_not_secrets_and_longest_masks_first() -> None:
    secrets = Secrets()
    secrets.add("ab")
    secrets.add("abcd")
    secrets.add("abcdef")
    assert secrets.scrub("ab abcd abcdef") == f"ab {MASK} {MASK}"


def test_log_records_are_scrubbed() -> None:
    register_env({"SERVICE_TOKEN": "tok-log-3"}, environ={})
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "leak %s", ("tok-log-3",), None)
    assert ScrubbingFilter().filter(record) and record.getMessage() == f"leak {MASK}"

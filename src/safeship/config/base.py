"""Building blocks shared by every config model: the base model, durations, percentages,
listen addresses.

Field names are camelCase in YAML (as in Argo Rollouts) and snake_case in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from safeship.core.addresses import check_host_port
from safeship.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
Percent = Annotated[float, Field(ge=0, le=100)]
# Where something listens: HOST:PORT, an IPv6 host in brackets (core/addresses.py).
ListenAddress = Annotated[str, AfterValidator(check_host_port)]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


def located_error(
    title: str, problems: Sequence[tuple[tuple[str | int, ...], str, Any]]
) -> ValidationError:
    """A validation error that names the keys at fault, for checks that span sections.

    Each problem is (YAML key path, "expected X, found Y", the offending input).
    """
    details = [
        InitErrorDetails(type=PydanticCustomError("located", message), loc=loc, input=value)
        for loc, message, value in problems
    ]
    return ValidationError.from_exception_data(title, details)

"""One error hierarchy (STYLE 13): every exception class in safeship derives from
SafeshipError and says how it leaves the process, as an exit code and an HTTP status."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import safeship
from safeship.core.errors import (
    ConfigError,
    DeployError,
    ExitCode,
    InvalidInput,
    QueryError,
    SafeshipError,
    StoreError,
    TemplateError,
    UsageError,
)

# Modules that run something when imported (Alembic's env.py needs a live migration context;
# every `__main__` runs its program).
_NOT_IMPORTABLE = {"safeship.store.migrations.env"}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(safeship.__path__, prefix="safeship."):
        if info.name in _NOT_IMPORTABLE or info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            is_exception = inspect.isclass(value) and issubclass(value, BaseException)
            if is_exception and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_exception_class_derives_from_safeship_error() -> None:
    classes = _exception_classes()
    outside = {name for name, cls in classes.items() if not issubclass(cls, SafeshipError)}
    assert outside == set()


@pytest.mark.parametrize("name", sorted(_exception_classes()))
def test_every_error_maps_to_an_exit_code_and_an_http_status(name: str) -> None:
    cls = _exception_classes()[name]
    assert isinstance(cls.exit_code, ExitCode)  # type: ignore[attr-defined]
    assert 400 <= cls.http_status <= 599  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("category", "exit_code", "http_status"),
    [
        (SafeshipError, ExitCode.UNAVAILABLE, 500),
        (InvalidInput, ExitCode.INVALID, 400),
        (ConfigError, ExitCode.INVALID, 422),
        (UsageError, ExitCode.INVALID, 400),
        (TemplateError, ExitCode.INVALID, 400),
        (QueryError, ExitCode.INVALID, 422),
        (StoreError, ExitCode.UNAVAILABLE, 503),
        (DeployError, ExitCode.UNAVAILABLE, 502),
    ],
)
def test_each_category_maps_once(
    category: type[SafeshipError], exit_code: ExitCode, http_status: int
) -> None:
    assert (category.exit_code, category.http_status) == (exit_code, http_status)


def test_exit_codes_are_the_documented_ones() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3]

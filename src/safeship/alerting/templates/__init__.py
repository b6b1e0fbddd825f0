"""Prometheus-style templates: Go's text/template with Prometheus's functions, in pure Python.

The evaluator expands every rule label and annotation with the alert's `$labels`, `$value`,
`$externalLabels` and `$externalURL` before comparing or sending it, as Prometheus does:
the same prelude of variable definitions, the template named `__alert_NAME`, errors printed
into the text as "<error expanding template: ...>". `rules check` refuses a template that
does not parse (Prometheus's rulefmt does too). `render` is the general entry (any data,
any extra functions) for other users of Go templates, such as notification templates.

Modules, in the order text flows through them: lex.py (text → tokens), parse.py (tokens →
nodes.py's tree), execute.py (tree + data → text), with builtins.py (Go's functions),
functions.py (Prometheus's), values.py (Go's types) and gofmt.py (Go's fmt).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping

from safeship.alerting.templates.builtins import BUILTINS, Func
from safeship.alerting.templates.execute import execute
from safeship.alerting.templates.functions import NAMES, Env, QueryFunc, humanize
from safeship.alerting.templates.gofmt import go_float, show
from safeship.alerting.templates.nodes import Template
from safeship.alerting.templates.parse import parse
from safeship.alerting.templates.values import StrMap, Struct
from safeship.core.errors import TemplateError

# Prometheus prepends these to every alert template (rules/alerting.go).
PRELUDE = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)

__all__ = [
    "Env",
    "Func",
    "QueryFunc",
    "TemplateError",
    "check",
    "expand",
    "go_float",
    "humanize",
    "render",
    "show",
]


_NO_ENV = Env()


@functools.lru_cache(maxsize=4096)
def _parsed(text: str, name: str, names: frozenset[str]) -> Template:
    return parse(text, name, names)


def compile_template(text: str, *, name: str, functions: Collection[str] = NAMES) -> Template:
    """The parsed template (cached); TemplateError "template: NAME:LINE: ..." if it fails."""
    return _parsed(text, name, frozenset(functions))


def render(
    text: str, *, data: object, name: str = "template", functions: Mapping[str, Func] | None = None
) -> str:
    """`text` executed over `data` with Go's builtins plus `functions`; TemplateError with Go's
    message ("template: NAME:1:5: executing ...") when it does not parse or execute."""
    table = {**BUILTINS, **(functions or {})}
    return execute(compile_template(text, name=name, functions=table), data, table)


def alert_data(
    labels: Mapping[str, str],
    value: float,
    *,
    external_labels: Mapping[str, str],
    external_url: str,
) -> Struct:
    """Prometheus's AlertTemplateData: .Labels, .ExternalLabels, .ExternalURL, .Value."""
    return Struct(
        {
            "Labels": StrMap(labels),
            "ExternalLabels": StrMap(external_labels),
            "ExternalURL": external_url,
            "Value": value,
        }
    )


def expand(
    text: str,
    *,
    labels: Mapping[str, str],
    value: float,
    alert: str = "",
    env: Env | None = None,
) -> str:
    """An alert label or annotation expanded as Prometheus's rule evaluation does; raises
    TemplateError with Prometheus's message ("error executing template __alert_X: ...")."""
    if "{{" not in text:
        return text  # what Go prints for a template without actions (the prelude prints nothing)
    env = env or _NO_ENV
    name = f"__alert_{alert}"
    url = env.url_variable if env.url_variable is not None else env.external_url or ""
    data = alert_data(labels, value, external_labels=env.external_labels, external_url=url)
    try:
        template = compile_template(PRELUDE + text, name=name)
    except TemplateError as exc:
        raise TemplateError(f"error parsing template {name}: {exc}") from None
    try:
        return execute(template, data, env.functions)
    except TemplateError as exc:
        raise TemplateError(f"error executing template {name}: {exc}") from None
    except Exception as exc:  # Prometheus recovers a panic into the text too; never crash
        raise TemplateError(f"panic expanding template {name}: {exc}") from None


def check(text: str, *, alert: str = "") -> None:
    """Raise TemplateError (Go's parse message) when `text` would not parse in Prometheus."""
    compile_template(PRELUDE + text, name=f"__alert_{alert}")

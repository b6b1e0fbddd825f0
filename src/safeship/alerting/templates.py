"""Prometheus-style templating of alert labels and annotations: a small, safe subset.

The evaluator expands every rule label and annotation with the alert's `$labels` and
`$value` before comparing or sending it. Supported: `{{ $value }}`, `{{ $labels }}`,
`{{ $labels.x }}`, `{{ .Value }}`, `{{ .Labels.x }}`, `humanize`, `printf "fmt" args`,
`toUpper`, `toLower` and pipes (`{{ $value | humanize }}`). Nothing is evaluated as code.
Values print as Go's text/template prints them, so results match Prometheus byte for byte.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Mapping
from decimal import Decimal

from safeship.core.errors import TemplateError

TemplateValue = str | float | Mapping[str, str]

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
_VERB = re.compile(r"%([-+ 0#]*\d*(?:\.\d+)?)([a-zA-Z%])")
_NO_VALUE = "<no value>"


def expand(text: str, *, labels: Mapping[str, str], value: float) -> str:
    """`text` with every `{{ ... }}` action replaced by its printed result."""
    out: list[str] = []
    pos = 0
    for match in _ACTION.finditer(text):
        before = text[pos : match.start()]
        out.append(before.rstrip() if match.group(1) else before)
        out.append(show(_pipeline(match.group(2), labels=labels, value=value)))
        pos = match.end()
        if match.group(3):  # `-}}` trims the whitespace that follows, as in Go
            pos = len(text) - len(text[pos:].lstrip())
    return "".join(out) + text[pos:]


def check(text: str) -> None:
    """Raise TemplateError when `text` uses something outside the subset."""
    expand(text, labels={}, value=0.0)


def _pipeline(action: str, *, labels: Mapping[str, str], value: float) -> TemplateValue:
    result: TemplateValue | None = None
    for command in action.split("|"):
        try:
            words = shlex.split(command.strip(), posix=False)
        except ValueError as exc:
            raise TemplateError(f"bad action {{{{ {action} }}}}: {exc}") from None
        if not words:
            raise TemplateError(f"empty command in {{{{ {action} }}}}")
        args = [_operand(w, labels=labels, value=value) for w in words[1:]]
        if result is not None:
            args.append(result)  # a pipe passes the previous result as the last argument
        result = _call(words[0], args, labels=labels, value=value)
    assert result is not None
    return result


def _call(
    head: str, args: list[TemplateValue], *, labels: Mapping[str, str], value: float
) -> TemplateValue:
    if head in FUNCTIONS:
        return FUNCTIONS[head](args)
    if args:
        raise TemplateError(f"unknown function {head}")
    return _operand(head, labels=labels, value=value)


def _operand(word: str, *, labels: Mapping[str, str], value: float) -> TemplateValue:
    if word in ("$value", ".Value"):
        return value
    if word in ("$labels", ".Labels"):
        return dict(labels)
    for prefix in ("$labels.", ".Labels."):
        if word.startswith(prefix):
            return labels.get(word[len(prefix) :], _NO_VALUE)
    try:
        return float(word)
    except ValueError:
        pass
    if len(word) >= 2 and word[0] == word[-1] and word[0] in '"`':
        return _string_literal(word)
    raise TemplateError(
        f"unknown word {word} (the subset has no variables, parentheses or keywords)"
    )


def _string_literal(word: str) -> str:
    if word[0] == "`":
        return word[1:-1]  # a Go raw string: no escapes
    try:
        return str(json.loads(word))  # Go's interpreted strings escape like JSON's
    except ValueError:
        raise TemplateError(f"bad string literal {word}") from None


def show(item: TemplateValue) -> str:
    """How Go's text/template prints a value: %v."""
    if isinstance(item, str):
        return item
    if isinstance(item, float):
        return go_float(item)
    return "map[" + " ".join(f"{k}:{item[k]}" for k in sorted(item)) + "]"


def go_float(number: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form below 1e-4 or
    from 1e6 (Go's %v), so 1000000 prints as 1e+06 exactly as Prometheus does."""
    if math.isnan(number) or math.isinf(number):
        return _go_g4(number)
    exact = Decimal(repr(number)).normalize()
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    exponent = exact.adjusted()
    if -4 <= exponent < 6:
        return format(exact, "f")
    sign, digits, _ = exact.as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def humanize(number: float) -> str:
    """Prometheus's humanize: SI prefixes in steps of 1000, four significant digits."""
    if number == 0 or math.isnan(number) or math.isinf(number):
        return _go_g4(number)
    prefix = ""
    if abs(number) >= 1:
        for candidate in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(number) < 1000:
                break
            prefix, number = candidate, number / 1000
    else:
        for candidate in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(number) >= 1:
                break
            prefix, number = candidate, number * 1000
    return _go_g4(number) + prefix


def _go_g4(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return f"{number:.4g}"  # Python's %g agrees with Go's for a fixed precision


def printf(fmt: str, args: list[TemplateValue]) -> str:
    """Go's fmt.Sprintf for the verbs annotations use: %v %s %d %f %g %e and %%."""
    queue = list(args)

    def verb(match: re.Match[str]) -> str:
        flags, kind = match.group(1), match.group(2)
        if kind == "%":
            return "%"
        if not queue:
            return f"%!{kind}(MISSING)"
        arg = queue.pop(0)
        if kind in "vs" or not isinstance(arg, float):
            return show(arg)
        number = int(arg) if kind == "d" else arg
        return ("%" + flags + kind) % number

    return _VERB.sub(verb, fmt)


def _fn_printf(args: list[TemplateValue]) -> TemplateValue:
    if not args or not isinstance(args[0], str):
        raise TemplateError("printf needs a format string first")
    return printf(args[0], args[1:])


def _one(name: str, args: list[TemplateValue]) -> TemplateValue:
    if len(args) != 1:
        raise TemplateError(f"{name} takes one argument, found {len(args)}")
    return args[0]


def _fn_humanize(args: list[TemplateValue]) -> TemplateValue:
    arg = _one("humanize", args)
    try:
        return humanize(float(arg) if not isinstance(arg, Mapping) else math.nan)
    except ValueError:
        raise TemplateError(f"humanize needs a number, found {arg!r}") from None


FUNCTIONS: dict[str, Callable[[list[TemplateValue]], TemplateValue]] = {
    "humanize": _fn_humanize,
    "printf": _fn_printf,
    "toUpper": lambda args: show(_one("toUpper", args)).upper(),
    "toLower": lambda args: show(_one("toLower", args)).lower(),
}

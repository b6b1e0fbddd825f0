"""How Go's fmt prints values: Sprint, Sprintln, Sprintf with Go's verbs and complaints.

`%v %s %d %f %F %e %E %g %G %x %X %o %O %b %q %t %c %U %T %%` with flags, width, precision,
argument indexes and `*`, including Go's `%!d(float64=1)` for a verb that does not fit its
value, so template output matches Prometheus byte for byte. Floats print like strconv's
shortest 'g' (1e+06, not 1000000), NaN and ±Inf as Go spells them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from safeship.alerting.templates.values import Sample, Struct, Time, type_name


def go_float(number: float, verb: str = "g", precision: int = -1) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), Go's %v: the shortest digits that round-trip,
    in exponent form below 1e-4 and from 1e6 up (Go decides with precision 6 when printing
    shortest), so 1000000 prints 1e+06 and 123456 prints 123456. With a precision: %.Ng."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if precision >= 0:
        return ("%." + str(precision) + verb) % number
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    exact = Decimal(repr(number)).normalize()
    exponent = exact.adjusted()
    if -4 <= exponent < 6:
        return format(exact, "f")
    sign, digits, _ = exact.as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    out = f"{'-' if sign else ''}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return out.upper() if verb == "G" else out


def printable(value: object) -> object:
    """Go's printableValue: nil is "<no value>" and a pointer prints as what it points to."""
    if value is None:
        return "<no value>"
    if isinstance(value, Sample):
        return Struct({"Labels": value.Labels, "Value": value.Value}, name="template.sample")
    if isinstance(value, Struct) and value.pointer:
        return Struct(value.fields, name=value.type_name.lstrip("*"))
    return value


def sprint(*args: object) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(show(arg))
    return "".join(out)


def sprintln(*args: object) -> str:
    return " ".join(show(a) for a in args) + "\n"


def show(value: object) -> str:
    """%v of one value."""
    return _format(value, "v", _NO_SPEC, 0)


@dataclass(frozen=True)
class _Spec:
    flags: str
    width: int | None
    precision: int | None


_NO_SPEC = _Spec("", None, None)


def sprintf(fmt: str, args: list[object]) -> str:
    """fmt.Sprintf with Go's verbs, argument indexes (%[2]v), `*` widths and Go's complaints
    (%!d(string=x), MISSING, BADINDEX, NOVERB, EXTRA)."""
    printer = _Printer(fmt, args)
    printer.run()
    return "".join(printer.out)


class _Printer:
    """Go's doPrintf, one directive at a time."""

    def __init__(self, fmt: str, args: list[object]) -> None:
        self.fmt, self.args = fmt, args
        self.out: list[str] = []
        self.i, self.arg = 0, 0
        self.reordered = self.good_index = False

    def run(self) -> None:
        while self.i < len(self.fmt):
            percent = self.fmt.find("%", self.i)
            if percent < 0:
                self.out.append(self.fmt[self.i :])
                break
            self.out.append(self.fmt[self.i : percent])
            self.i = percent + 1
            if not self.directive():
                break
        if not self.reordered and self.arg < len(self.args):
            rest = self.args[self.arg :]
            extra = ", ".join("<nil>" if a is None else f"{type_name(a)}={show(a)}" for a in rest)
            self.out.append(f"%!(EXTRA {extra})")

    def directive(self) -> bool:
        self.good_index = True
        flags = self.take(r"[-+# 0]*")
        after_index = self.index()
        width = self.number_or_star(after_index)
        precision = None
        if self.fmt.startswith(".", self.i) and self.i + 1 < len(self.fmt):
            self.i += 1
            self.good_index = self.good_index and not after_index
            after_index = self.index()
            precision = self.number_or_star(after_index, precision=True)
            after_index = after_index and not self.fmt.startswith("*", self.i - 1)
        if not after_index:
            self.index()
        if self.i >= len(self.fmt):
            self.out.append("%!(NOVERB)")
            return False
        verb = self.fmt[self.i]
        self.i += 1
        if verb == "%":
            self.out.append("%")
        elif not self.good_index:
            self.out.append(f"%!{verb}(BADINDEX)")
        elif self.arg >= len(self.args):
            self.out.append(f"%!{verb}(MISSING)")
        else:
            if width is not None and width < 0:
                flags, width = flags.replace("0", "") + "-", -width
            if verb == "v":  # %+v and %#v are Go's plusV and sharpV: no sign; field names
                flags = flags.replace("+", "P")
            self.out.append(format_verb(self.args[self.arg], verb, _Spec(flags, width, precision)))
            self.arg += 1
        return True

    def take(self, pattern: str) -> str:
        found = re.compile(pattern).match(self.fmt, self.i)
        text = found.group(0) if found else ""
        self.i += len(text)
        return text

    def index(self) -> bool:
        """An explicit argument index [n]; True when one was read."""
        if not self.fmt.startswith("[", self.i):
            return False
        self.reordered = True
        found = re.compile(r"\[(\d+)\]").match(self.fmt, self.i)
        if found is None:
            close = self.fmt.find("]", self.i)
            self.i = close + 1 if close >= 0 else self.i + 1
            self.good_index = False
            return close >= 0
        self.i = found.end()
        number = int(found.group(1)) - 1
        if 0 <= number < len(self.args):
            self.arg = number
            return True
        self.good_index = False
        return True

    def number_or_star(self, after_index: bool, *, precision: bool = False) -> int | None:
        if self.fmt.startswith("*", self.i):
            self.i += 1
            value = self.args[self.arg] if self.arg < len(self.args) else None
            self.arg += self.arg < len(self.args)
            ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1e6
            if not ok:
                self.out.append("%!(BADPREC)" if precision else "%!(BADWIDTH)")
                return None
            assert isinstance(value, int)
            return None if precision and value < 0 else value
        digits = self.take(r"\d*")
        if digits and after_index and not precision:
            self.good_index = False
        return int(digits) if digits else (0 if precision else None)


def format_verb(value: object, verb: str, spec: _Spec) -> str:
    if verb == "T":
        return _pad(type_name(value), spec)
    return _format(value, verb, spec, 0)


def _format(value: object, verb: str, spec: _Spec, depth: int) -> str:
    if verb == "v" and "#" in spec.flags and isinstance(value, str | dict):
        return _go_syntax(value)
    if value is None:
        return _pad("<nil>", spec) if verb == "v" else _bad(verb, value, spec)
    if isinstance(value, bool):
        return _pad(str(value).lower(), spec) if verb in "vt" else _bad(verb, value, spec)
    if verb == "v" and isinstance(value, int | float):  # sharpV and plusV mean nothing here
        spec = _Spec(spec.flags.replace("#", "").replace("P", ""), spec.width, spec.precision)
    if isinstance(value, int):
        return _integer(value, verb, spec)
    if isinstance(value, float):
        return _float(value, verb, spec)
    if isinstance(value, complex):
        return _complex(value, verb, spec)
    if isinstance(value, str):
        return _string(value, verb, spec)
    if isinstance(value, Time) and verb in "vsxXq":
        return _string(str(value), verb, spec)
    if isinstance(value, Time):  # not a Stringer verb: Go prints the struct's fields
        seconds, nanos = divmod(value.unix_ns, 1_000_000_000)
        wall, ext = (nanos, "uint64"), (seconds + 62135596800, "int64")
        if verb in "dob":
            parts = [_integer(n, verb, spec) for n, _ in (wall, ext)] + ["0"]
        else:
            parts = [f"%!{verb}({kind}={n})" for n, kind in (wall, ext)]
            parts.append(f"%!{verb}(*time.Location=<nil>)")
        return "&{" + " ".join(parts) + "}"
    if isinstance(value, dict):
        items = " ".join(
            f"{_format(k, verb, spec, depth + 1)}:{_format(value[k], verb, spec, depth + 1)}"
            for k in sorted(value)
        )
        return f"map[{items}]"
    return _composite(value, verb, spec, depth)


def _composite(value: object, verb: str, spec: _Spec, depth: int) -> str:
    if isinstance(value, Sample | Struct) and (depth == 0 or not _is_pointer(value)):
        fields = value.fields if isinstance(value, Struct) else vars(value)
        amp = "&" if _is_pointer(value) else ""
        if verb == "v" and "#" in spec.flags:  # &template.sample{Labels:..., Value:0.75}
            inner = ", ".join(f"{k}:{_format(v, verb, spec, depth + 1)}" for k, v in fields.items())
            return f"{amp}{type_name(value).lstrip('*')}{{{inner}}}"
        named = verb == "v" and "P" in spec.flags
        inner = " ".join(
            (f"{k}:" if named else "") + _format(v, verb, spec, depth + 1)
            for k, v in fields.items()
        )
        return amp + "{" + inner + "}"
    if isinstance(value, list):
        return "[" + " ".join(_format(v, verb, spec, depth + 1) for v in value) + "]"
    if _is_pointer(value) and verb not in "vbodxX":
        return _bad(verb, value, spec)  # %!s(*template.sample=&{...})
    if _is_pointer(value):
        return "0xc000010000"  # Go prints a nested pointer's address; any address will do
    return _bad(verb, value, spec)


def _go_syntax(value: str | dict[str, object]) -> str:
    """%#v of a string or map: Go source syntax."""
    if isinstance(value, str):
        return go_quote(value)
    kind = type_name(value)
    items = ", ".join(
        f"{go_quote(k)}:{_go_syntax(v) if isinstance(v, str) else show(v)}"
        for k, v in sorted(value.items())
    )
    return f"{kind}{{{items}}}"


def _is_pointer(value: object) -> bool:
    return isinstance(value, Sample | Time) or (isinstance(value, Struct) and value.pointer)


def _bad(verb: str, value: object, spec: _Spec = _NO_SPEC) -> str:
    """Go's badVerb: the value printed with %v under the same flags, width and precision."""
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(value)}={_format(value, 'v', spec, 0)})"


def _pad(text: str, spec: _Spec, zero_ok: bool = True) -> str:
    width = spec.width or 0
    if len(text) >= width:
        return text
    if "-" in spec.flags:
        return text.ljust(width)
    fill = "0" if "0" in spec.flags and zero_ok else " "
    return text.rjust(width, fill)


def _pyflags(spec: _Spec) -> str:
    width = "" if spec.width is None else str(spec.width)
    precision = "" if spec.precision is None else f".{spec.precision}"
    return "%" + spec.flags + width + precision


def _integer(value: int, verb: str, spec: _Spec) -> str:
    if verb in "vd":
        return (_pyflags(spec) + "d") % value
    if verb in "xXob":
        sign = "-" if value < 0 else ("+" if "+" in spec.flags else "")
        digits = format(abs(value), {"x": "x", "X": "X", "o": "o", "b": "b"}[verb])
        if spec.precision is not None:
            digits = digits.zfill(spec.precision)
        prefix = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}[verb] if "#" in spec.flags else ""
        return _pad_number(sign, prefix + digits, spec)
    if verb == "O":
        return _pad_number("-" if value < 0 else "", "0o" + format(abs(value), "o"), spec)
    if verb == "c":
        return _pad(_rune(value), spec)
    if verb == "q":
        return _pad("'" + _quote_body(_rune(value), "'") + "'", spec)
    if verb == "U":
        return _pad(f"U+{value:04X}", spec)
    return _bad(verb, value, spec)


def _rune(value: int) -> str:
    """The character of a code point; Go prints U+FFFD for one that is not valid."""
    valid = 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF
    return chr(value) if valid else "\ufffd"


def _pad_number(sign: str, digits: str, spec: _Spec) -> str:
    width = spec.width or 0
    if "0" in spec.flags and "-" not in spec.flags and spec.precision is None:
        return sign + digits.rjust(width - len(sign), "0")
    return _pad(sign + digits, spec, zero_ok=False)


def _float(value: float, verb: str, spec: _Spec) -> str:
    if verb not in "vbgGxXfFeE":
        return _bad(verb, value, spec)
    if math.isnan(value) or math.isinf(value):
        text = go_float(value)
        sign = "+" if "+" in spec.flags else " " if " " in spec.flags else ""
        if text == "NaN" and sign:
            text = sign + text
        elif text == "+Inf" and sign == " ":
            text = " Inf"
        return _pad(text, spec, zero_ok=False)
    if verb in "xX":
        return _pad(_hex_float(value, verb), spec)
    if verb == "b":  # mantissa p exponent, powers of two: 5629499534213120p-50
        mantissa, exponent = math.frexp(value)
        return _pad(f"{int(mantissa * 2**53)}p{exponent - 53:+d}", spec)
    if verb in "vgG" and spec.precision is None:
        text = go_float(value, "G" if verb == "G" else "g")
        if not text.startswith("-") and ("+" in spec.flags or " " in spec.flags):
            text = ("+" if "+" in spec.flags else " ") + text
        return (
            _zero(text, spec) if "0" in spec.flags and "-" not in spec.flags else _pad(text, spec)
        )
    return (_pyflags(spec) + {"v": "g", "F": "f"}.get(verb, verb)) % value


def _complex(value: complex, verb: str, spec: _Spec) -> str:
    """Go's fmtComplex: (real imag i), the imaginary part always signed."""
    if verb not in "vbgGxXfFeE":
        return _bad(verb, value, spec)
    signed = _Spec(spec.flags.replace("+", "") + "+", spec.width, spec.precision)
    return f"({_float(value.real, verb, spec)}{_float(value.imag, verb, signed)}i)"


def _zero(text: str, spec: _Spec) -> str:
    sign = text[0] if text[:1] in "+- " else ""
    return sign + text[len(sign) :].rjust((spec.width or 0) - len(sign), "0")


def _hex_float(value: float, verb: str) -> str:
    """Go's %x of a float64: 0x1.8p+01."""
    text = value.hex()  # -0x1.8000000000000p+1
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exponent = text.lstrip("-")[2:].partition("p")
    mantissa = mantissa.rstrip("0").rstrip(".")
    number = int(exponent)
    out = f"{sign}0x{mantissa}p{'-' if number < 0 else '+'}{abs(number):02d}"
    return out.upper().replace("0X", "0X") if verb == "X" else out


def _string(value: str, verb: str, spec: _Spec) -> str:
    if spec.precision is not None and verb in "vsq":
        value = value[: spec.precision]
    if verb in "vs":
        return _pad(value, spec)
    if verb in "xX":
        raw = value.encode().hex()
        raw = " ".join(raw[i : i + 2] for i in range(0, len(raw), 2)) if " " in spec.flags else raw
        raw = ("0x" + raw) if "#" in spec.flags and raw else raw
        return _pad(raw.upper() if verb == "X" else raw, spec)
    if verb == "q":
        if "#" in spec.flags and "`" not in value and value.isprintable():
            return _pad("`" + value + "`", spec)
        return _pad(go_quote(value, ascii_only="+" in spec.flags), spec)
    return _bad(verb, value, spec)


def go_quote(text: str, *, ascii_only: bool = False) -> str:
    """strconv.Quote (QuoteToASCII when `ascii_only`, as %+q does)."""
    return '"' + _quote_body(text, '"', ascii_only=ascii_only) + '"'


def _quote_body(text: str, quote: str, *, ascii_only: bool = False) -> str:
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\v": "\\v", "\\": "\\\\", quote: "\\" + quote}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable() and (char.isascii() or not ascii_only):
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)

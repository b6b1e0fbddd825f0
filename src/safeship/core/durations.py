"""Durations as operators write them ("90s", "5m", "1h30m", "250ms") and back."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | float | int) -> float:
    """Seconds in `text`; a bare number is seconds. Raises ValueError with what was expected."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like '30s' or '5m', found {text!r}")
    if isinstance(text, int | float):
        if not 0 <= text < math.inf:  # also refuses NaN
            raise ValueError(f"expected a non-negative duration, found {text}")
        return float(text)
    if not isinstance(text, str):  # YAML gives any type; a list is a user's mistake too
        raise ValueError(f"expected a duration like '30s' or '5m', found {type(text).__name__}")
    cleaned = text.strip()
    if cleaned.replace(".", "", 1).isdigit():
        return float(cleaned)
    pos, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or not cleaned:
        raise ValueError(f"expected a duration like '30s', '5m' or '1h30m', found {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """A short human form: 0.25s, 42s, 3m05s, 2h01m."""
    if seconds < 10:
        return f"{seconds:.2f}s".replace(".00s", "s")
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"

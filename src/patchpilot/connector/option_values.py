"""Parsers of run option values that are more than a type: download rates, systemd unit
names or globs, advisory severities. Each raises ValueError saying what is wrong, as a
pydantic validator expects; durations and deadlines are maintenance_window.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SEVERITIES", "check_unit_names", "parse_rate", "severities"]

SEVERITIES = ("critical", "important", "moderate", "low")
_RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b(?:/s)?)?$", re.IGNORECASE)
_RATE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@*?\[\]!\\-]{1,256}$")  # the client's (jobspec.py)


def parse_rate(text: str) -> int:
    """Return a download rate (`500k`, `2M`, `1.5MiB/s`, `300000`) in bytes per second,
    1 KiB/s to 10 GiB/s; ValueError says what is wrong."""
    found = _RATE_RE.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a rate: a number with k, M or G (1024-based), e.g. 2M")
    rate = int(float(found.group(1)) * _RATE_UNITS[found.group(2).lower()])
    if not 1 << 10 <= rate <= 10 << 30:
        raise ValueError(f"{text!r}: a download limit is 1k to 10G bytes per second")
    return rate


def check_unit_names(units: tuple[str, ...]) -> tuple[str, ...]:
    """Return units when each is a systemd unit name or glob the client accepts."""
    for unit in units:
        if not _UNIT_RE.match(unit):
            raise ValueError(f"{unit[:60]!r} is not a systemd unit name or glob")
    return units


def severities(values: Iterable[object]) -> tuple[str, ...]:
    """Return advisory severities in lower case; refuse names updateinfo and MSRC do not use."""
    names = tuple(str(v).strip().lower() for v in values)
    unknown = [n for n in names if n not in SEVERITIES]
    if unknown:
        raise ValueError(f"unknown severity {unknown[0]!r} (one of {', '.join(SEVERITIES)})")
    return names

"""The maintenance window: `--deadline` (ISO 8601 or `+2h`), `--cutoff` (`30m`), and the rule.

No new round starts (and, in a fleet, no new server) once `deadline - cutoff` has passed; a
round in flight always finishes, because the client never leaves dpkg/rpm/WUA half-done.
Pure functions over values and a clock; the round loop and the fleet ask `is_closed`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["is_closed", "is_past", "parse_deadline", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

Now = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def parse_duration(text: str) -> float:
    """Return seconds for `90`, `90s`, `30m`, `2h`, `1d`; raise ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (90s, 30m, 2h, 1d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_deadline(text: str, now: Now = _utc_now) -> datetime:
    """Return the deadline as an aware UTC time: `+2h` from now, or ISO 8601.

    An ISO time without a zone is the connector host's local time (what an operator types).
    """
    text = text.strip()
    if text.startswith("+"):
        return now() + timedelta(seconds=parse_duration(text[1:]))
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither ISO 8601 nor +DURATION (+2h)") from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(UTC)


def is_closed(deadline: datetime | None, cutoff: float, now: Now = _utc_now) -> bool:
    """Say whether the window no longer lets new work start (deadline minus cutoff passed)."""
    if deadline is None:
        return False
    return now() >= deadline - timedelta(seconds=cutoff)


def is_past(deadline: datetime | None, now: Now = _utc_now) -> bool:
    """Say whether the deadline itself has passed (a late round may then not reboot)."""
    return deadline is not None and now() >= deadline

"""The typed events the core emits while a run goes on; only the CLI renders them.

Every event carries the target's name and a UTC timestamp; `kind` names the event for the
JSON rendering. The core calls `on_event(event)` and never prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from patchpilot.connector.run_result import RunResult

__all__ = [
    "Event",
    "EventSink",
    "JournalRecord",
    "PhaseStarted",
    "RunFinished",
    "RunStarted",
    "WarningRaised",
    "utc_now",
]


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True)
class Event:
    target: str
    ts: str = field(default_factory=utc_now)
    kind: str = "event"


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    run_id: str
    mode: str
    is_resumed: bool
    summary: Mapping[str, Any]
    kind: str = "run.start"


@dataclass(frozen=True, kw_only=True)
class PhaseStarted(Event):
    """A named step of a round (launch, stream, await_reboot, verify) or a wait within it."""

    round: int
    phase: str
    detail: str = ""
    kind: str = "phase"


@dataclass(frozen=True, kw_only=True)
class JournalRecord(Event):
    """One record of the client's journal, as received (printed once, in order)."""

    round: int
    record: Mapping[str, Any]
    kind: str = "record"


@dataclass(frozen=True, kw_only=True)
class WarningRaised(Event):
    round: int
    message: str
    kind: str = "warning"


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    result: RunResult
    kind: str = "run.end"


EventSink = Callable[[Event], None]

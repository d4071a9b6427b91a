"""What every report format shows: one run or one fleet run, normalised from the stored data.

`build_report` is pure: it takes a fleet result document (a single run is a fleet of one) and,
per server, the store's round rows and journal records, and returns a `Report` that the
renderers (html, junit, csv, metrics) only format. Everything from targets stays plain text
here; each renderer escapes it for its own format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patchpilot.connector.run_status import RunStatus
from patchpilot.connector.store import RoundRow

__all__ = ["Report", "ServerInput", "ServerReport", "UpdateRow", "build_report", "parse_time"]

CHECK_ONLY = "check-only"
_NOTABLE_LEVELS = ("warning", "error")


@dataclass(frozen=True)
class UpdateRow:
    """One update on one server: its final status, versions, and what the scan said of it."""

    id: str
    status: str
    version: str = ""
    installed_version: str = ""
    round: int = 0
    message: str = ""
    title: str = ""
    origin: str = ""
    is_security: bool = False
    categories: tuple[str, ...] = ()
    severity: str = ""


@dataclass(frozen=True)
class JournalLine:
    """A warning or error the client wrote to its journal."""

    ts: str
    level: str
    round: int
    event: str
    text: str


@dataclass(frozen=True)
class ServerReport:
    """One server of the report: outcome, timing, rounds, reboots, updates, problems."""

    host: str
    status: RunStatus  # RUNNING: the report was made meanwhile
    run_id: str = ""
    outcome: str = ""
    exit_code: int | None = None
    mode: str = ""
    started: str = ""
    finished: str = ""
    phase: str = ""
    rounds: tuple[RoundRow, ...] = ()
    reboots: tuple[Mapping[str, Any], ...] = ()
    updates: tuple[UpdateRow, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    journal: tuple[JournalLine, ...] = ()
    is_reboot_pending: bool = False

    def count(self, status: str) -> int:
        return sum(1 for u in self.updates if u.status == status)

    @property
    def duration(self) -> float | None:
        """Seconds from the run's start to its end (None when unknown)."""
        return seconds_between(self.started, self.finished)

    @property
    def error(self) -> str:
        """The first error, for one-line views (table cell, JUnit message)."""
        return self.errors[0] if self.errors else ""

    @property
    def missing(self) -> tuple[UpdateRow, ...]:
        """Updates the server still misses: available (check-only) or not applied."""
        return tuple(u for u in self.updates if u.status in ("available", "failed", "held"))


@dataclass(frozen=True)
class Report:
    """A run or fleet run, ready to render."""

    run_id: str
    kind: str  # "fleet" or "run"
    mode: str
    exit_code: int | None
    servers: tuple[ServerReport, ...]
    stopped_early: bool = False
    document: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def is_compliance(self) -> bool:
        """A check-only run reports what servers miss, not what was done."""
        return self.mode == CHECK_ONLY

    @property
    def by_status(self) -> dict[RunStatus, int]:
        counts = {RunStatus.SUCCEEDED: 0, RunStatus.FAILED: 0, RunStatus.NOT_STARTED: 0}
        for server in self.servers:
            counts[server.status] = counts.get(server.status, 0) + 1
        return counts

    def count(self, status: str) -> int:
        return sum(s.count(status) for s in self.servers)

    @property
    def reboots(self) -> int:
        return sum(len(s.reboots) for s in self.servers)

    @property
    def started(self) -> str:
        return min((s.started for s in self.servers if s.started), default="")

    @property
    def finished(self) -> str:
        return max((s.finished for s in self.servers if s.finished), default="")

    @property
    def wall_seconds(self) -> float | None:
        return seconds_between(self.started, self.finished)


@dataclass(frozen=True)
class ServerInput:
    """One server's stored data: its entry of the fleet document, round rows, journal."""

    entry: Mapping[str, Any]
    rounds: Sequence[RoundRow] = ()
    records: Sequence[Mapping[str, Any]] = ()


def parse_time(text: str) -> datetime | None:
    """Return an ISO timestamp (`...Z` too) as a datetime, None if it is not one."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def seconds_between(start: str, end: str) -> float | None:
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None:
        return None
    return round((last - first).total_seconds(), 3)


def build_report(
    run_id: str, kind: str, document: Mapping[str, Any], servers: Iterable[ServerInput]
) -> Report:
    """Return the report of a fleet document (`servers`: host, status, exit_code, result)."""
    built = tuple(_server(item) for item in servers)
    modes = {s.mode for s in built if s.mode}
    exit_code = document.get("exit_code")
    return Report(
        run_id=run_id,
        kind=kind,
        mode=modes.pop() if len(modes) == 1 else ("mixed" if modes else ""),
        exit_code=int(exit_code) if isinstance(exit_code, int) else None,
        servers=built,
        stopped_early=bool(document.get("stopped_early")),
        document=document,
    )


def _text(value: Any, default: str = "") -> str:
    """Return a target's value as text every encoder takes (a lone surrogate as `\\ud800`)."""
    text = default if value is None else value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _status(value: Any) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        return RunStatus.FAILED


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> tuple[Any, ...]:
    """Return a list's items; anything else a target put there (a number, a text) is none."""
    return tuple(value) if isinstance(value, list | tuple) else ()


def _server(item: ServerInput) -> ServerReport:
    entry = _mapping(item.entry)
    result = _mapping(entry.get("result"))
    code = entry.get("exit_code")
    errors = [_text(e) for e in _items(result.get("errors"))]
    if result.get("error"):  # the fleet's record of a server that raised before any result
        errors.append(_text(result["error"]))
    reboots = _items(_mapping(result.get("reboots")).get("items"))
    last = _last_round_result(item.records)
    return ServerReport(
        host=_text(entry.get("host"), "?"),
        status=_status(entry.get("status")),
        run_id=_text(result.get("run_id")),
        outcome=_text(result.get("outcome")),
        exit_code=code if isinstance(code, int) else None,
        mode=_text(result.get("mode")),
        started=_text(result.get("started")),
        finished=_text(result.get("finished")),
        phase=_text(result.get("phase")),
        rounds=tuple(item.rounds),
        reboots=tuple(r for r in reboots if isinstance(r, Mapping)),
        updates=(
            *_updates(_items(result.get("updates")), item.records),
            *_dependencies(_items(result.get("updates")), _mapping(result.get("changes"))),
            *_services(_mapping(result.get("services"))),
        ),
        warnings=tuple(_text(w) for w in _items(result.get("warnings"))),
        errors=tuple(errors),
        journal=_journal(item.records),
        is_reboot_pending=result.get("outcome") == "success-reboot-pending"
        or (last.get("reboot_required") is True and last.get("will_reboot") is not True),
    )


def _last_round_result(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    found: Mapping[str, Any] = {}
    for record in records:
        if record.get("event") == "round.result":
            found = _mapping(record.get("fields"))
    return found


def _scanned(records: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Return what the scans said of each update id (the latest scan wins)."""
    seen: dict[str, Mapping[str, Any]] = {}
    for record in records:
        if record.get("event") in ("scan.done", "round.result"):
            for update in _items(_mapping(record.get("fields")).get("updates")):
                if isinstance(update, Mapping) and update.get("id") is not None:
                    seen[_text(update["id"])] = update
    return seen


def _updates(updates: Iterable[Any], records: Sequence[Mapping[str, Any]]) -> tuple[UpdateRow, ...]:
    scanned = _scanned(records)
    rows = []
    for update in (u for u in updates if isinstance(u, Mapping)):
        scan = scanned.get(_text(update.get("id")), {})
        rows.append(
            UpdateRow(
                id=_text(update.get("id"), "?"),
                status=_text(update.get("status"), "?"),
                version=_text(update.get("version") or scan.get("candidate_version")),
                installed_version=_text(
                    update.get("from_version") or scan.get("installed_version")
                ),
                round=_int(update.get("round")),
                message=_text(update.get("message")),
                title=_text(scan.get("title")),
                origin=_text(scan.get("origin")),
                is_security=scan.get("is_security") is True,
                categories=tuple(_text(c) for c in _items(scan.get("categories"))),
                severity=_text(scan.get("severity")),
            )
        )
    return tuple(rows)


def _dependencies(updates: Iterable[Any], changes: Mapping[str, Any]) -> tuple[UpdateRow, ...]:
    """Return the rows of what the rounds changed beside the planned updates (the result's
    change record): packages upgraded or newly installed as dependencies, packages removed."""
    planned = {_text(u.get("id")) for u in updates if isinstance(u, Mapping)}
    entries = {k: [e for e in _items(changes.get(k)) if isinstance(e, Mapping)]
               for k in ("upgraded", "installed", "removed")}  # fmt: skip
    upgraded = [e for e in entries["upgraded"] if _text(e.get("id")) not in planned]
    kinds = (
        (upgraded, "dependency", "to", "from", "upgraded as a dependency"),
        (entries["installed"], "dependency", "version", "", "newly installed as a dependency"),
        (entries["removed"], "removed", "", "version", "removed by the round"),
    )
    return tuple(
        UpdateRow(
            id=_text(e.get("id"), "?"),
            status=status,
            version=_text(e.get(to_key)),
            installed_version=_text(e.get(from_key)),
            round=_int(e.get("round")),
            message=message,
        )
        for found, status, to_key, from_key, message in kinds
        for e in found
    )


def _services(services: Mapping[str, Any]) -> tuple[UpdateRow, ...]:
    """Return a row per service --reboot services restarted, failed to bring back, or left
    alone; its message ends with its round's word on the reboot (needed or why not)."""
    why = {_int(e.get("round")): _text(e.get("why")) for e in _items(services.get("reboot"))
           if isinstance(e, Mapping)}  # fmt: skip
    rows = []
    for key, status in (("restarted", "restarted"), ("failed", "restart-failed"),
                        ("kept", "not-restarted")):  # fmt: skip
        for e in _items(services.get(key)):
            if not isinstance(e, Mapping):
                continue
            said = _text(e.get("message") or e.get("why"))
            if key == "restarted":
                said = f"pid {_text(e.get('old_pid'), '-')} -> {_text(e.get('new_pid'), '-')}"
            round_no = _int(e.get("round"))
            message = f"{said}; {why.get(round_no, '')}".strip("; ")
            rows.append(
                UpdateRow(_text(e.get("unit"), "?"), status, round=round_no, message=message)
            )
    return tuple(rows)


def _journal(records: Sequence[Mapping[str, Any]]) -> tuple[JournalLine, ...]:
    lines = []
    for record in records:
        level = _text(record.get("level"))
        if level not in _NOTABLE_LEVELS:
            continue
        fields = _mapping(record.get("fields"))
        text = " ".join(
            f"{k}={v}" for k, v in fields.items() if k not in ("updates", "results", "plan")
        )
        lines.append(
            JournalLine(
                _text(record.get("ts")),
                level,
                _int(record.get("round")),
                _text(record.get("event")),
                _text(text),
            )
        )
    return tuple(lines)

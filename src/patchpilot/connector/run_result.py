"""The run's result: a versioned JSON document, written atomically, and printed on one line.

Schedulers read the result file (`--result-file`) or the last stdout line; both hold the same
JSON. Bump SCHEMA_VERSION on any incompatible change to the keys below.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from dataclasses import fields as fields_of
from pathlib import Path
from typing import Any

from patchpilot.connector.exitcodes import Outcome

__all__ = ["RebootRecord", "RoundSummary", "RunResult", "write_result", "write_text_atomic"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RebootRecord:
    """One verified reboot."""

    round: int
    boot_id_before: str
    boot_id_after: str
    requested_at: str
    back_at: str
    seconds: float


@dataclass(frozen=True)
class RoundSummary:
    round: int
    status: str
    started: str
    finished: str
    launcher: str = ""
    task_id: str = ""
    installed: int = 0
    failed: int = 0
    is_rebooted: bool = False


@dataclass(frozen=True)
class RunResult:
    """What `run_target` returns and the result file holds."""

    run_id: str
    target: str
    mode: str
    status: str
    outcome: Outcome
    exit_code: int
    exit_code_scheme: str
    started: str
    finished: str
    rounds: tuple[RoundSummary, ...] = ()
    reboots: tuple[RebootRecord, ...] = ()
    updates: tuple[dict[str, Any], ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    phase: str | None = None
    hooks: tuple[dict[str, Any], ...] = ()  # each hook and health check that ran, in order
    # each interrupted round: round, cause, at, rebooted, done_before (docs/reliability.md)
    interruptions: tuple[dict[str, Any], ...] = ()
    # what the rounds changed in the package database: upgraded (from, to), installed, removed
    changes: dict[str, Any] = field(default_factory=dict)
    # --reboot services: restarted, failed, kept (each with its round) and, per round, why
    # it rebooted or did not (connector/run/service_restarts.py)
    services: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the result document (schema SCHEMA_VERSION)."""
        body = _shallow(self)  # not asdict: its deep copy was most of a 0.7 ms call
        body["outcome"] = self.outcome.value
        if not self.interruptions:  # the documents of runs never interrupted stay as they were
            del body["interruptions"]
        if not self.changes:  # no install round said what it changed (check-only, Windows)
            del body["changes"]
        if not self.services:  # no round restarted services (any --reboot but services)
            del body["services"]
        body["rounds"] = [_shallow(r) for r in self.rounds]
        body["reboots"] = {
            "count": len(self.reboots),
            "boot_ids": [r.boot_id_after for r in self.reboots],
            "items": [_shallow(r) for r in self.reboots],
        }
        document: dict[str, Any] = json.loads(json.dumps(body))  # a copy; tuples become lists
        return {"schema_version": SCHEMA_VERSION, **document}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RunResult:
        """Rebuild a result from its document (as stored); raise KeyError/ValueError if not one."""
        fields = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        fields["outcome"] = Outcome(body["outcome"])
        fields["rounds"] = tuple(RoundSummary(**r) for r in body.get("rounds", ()))
        items = (body.get("reboots") or {}).get("items", ())
        fields["reboots"] = tuple(RebootRecord(**r) for r in items)
        for key in ("updates", "warnings", "errors", "hooks", "interruptions"):
            fields[key] = tuple(body.get(key, ()))
        return cls(**fields)

    def to_json_line(self) -> str:
        """Return the document on one line (the connector's last stdout line)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=False)


def _shallow(value: Any) -> dict[str, Any]:
    """Return a dataclass's fields by name, the values as they are."""
    return {f.name: getattr(value, f.name) for f in fields_of(value)}


def write_result(result: dict[str, Any], path: str | Path) -> None:
    """Write the result document to path atomically, 0600.

    It names servers, packages and failures: only its owner reads it (chmod it to share it).
    """
    write_text_atomic(json.dumps(result, indent=2) + "\n", path, mode=0o600)


def write_text_atomic(text: str, path: str | Path, *, mode: int = 0o600) -> None:
    """Write text to path atomically (temp file in the same folder, fsync, rename), with mode.

    A reader (a scheduler, node_exporter's textfile collector) never sees half a file. Private
    (0600) unless said otherwise: reports name servers, packages and failures, as the result
    file does.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

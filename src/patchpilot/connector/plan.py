"""Pure round logic: what a round reported, the frozen plan, loop detection, when to go on.

No I/O here; run/round_loop.py feeds in the records it streamed and acts on the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchpilot.connector.exitcodes import Outcome
from patchpilot.protocol.parts import join_parts

__all__ = [
    "REPORT_EVENTS",
    "RoundReport",
    "UpdateResult",
    "extend_plan",
    "final_updates",
    "find_loops",
    "found_installed",
    "outcome_of",
    "should_continue",
]


@dataclass(frozen=True)
class UpdateResult:
    """One update's result in one round (the client's UpdateResult)."""

    id: str
    status: str
    version: str = ""
    message: str = ""
    code: str = ""
    round: int = 0

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], round_no: int) -> UpdateResult:
        return cls(
            str(fields.get("id", "?")),
            str(fields.get("status", "?")),
            str(fields.get("version") or ""),
            str(fields.get("message") or ""),
            str(fields.get("code") if fields.get("code") is not None else ""),
            round_no,
        )


# the records a RoundReport reads, with their parts (a record too large for one frame)
REPORT_EVENTS = ("round.result", "plan.selected", "round.result.part", "plan.selected.part")


@dataclass(frozen=True)
class RoundReport:
    """What the client's final `round.result` record (and `plan.selected`) said."""

    round: int
    status: str
    results: tuple[UpdateResult, ...] = ()
    offered: Mapping[str, str] = field(default_factory=dict)  # scanned id -> candidate
    selected: tuple[str, ...] = ()
    plan: Mapping[str, str] = field(default_factory=dict)
    reboot_required: bool = False
    will_reboot: bool = False
    # id -> {"advisory", "severity", "cves", "issued"}: what updateinfo said (dnf, zypper)
    advisories: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # what the round changed in the package database (client/inventory_diff.py); {} when not said
    changes: Mapping[str, Any] = field(default_factory=dict)
    # services restarted or not, and why no reboot (--reboot services: client/restart.py)
    services: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_records(cls, round_no: int, records: Iterable[Mapping[str, Any]]) -> RoundReport:
        """Build the report from a round's journal records (the last round.result wins)."""
        final: Mapping[str, Any] = {}
        chosen: Mapping[str, Any] = {}
        for record in join_parts(records):
            fields = _mapping(record.get("fields"))
            if record.get("event") == "round.result":
                final = fields
            elif record.get("event") == "plan.selected":
                chosen = fields
        offered = {
            str(u.get("id")): str(u.get("candidate_version") or "")
            for u in _items(final.get("updates"))
            if isinstance(u, Mapping)
        }
        results = tuple(
            UpdateResult.from_fields(r, round_no)
            for r in _items(final.get("results"))
            if isinstance(r, Mapping)
        )
        return cls(
            round_no,
            str(final.get("status", "error")),
            results,
            offered,
            tuple(str(i) for i in _items(chosen.get("selected"))),
            {str(k): str(v) for k, v in _mapping(chosen.get("plan")).items()},
            final.get("reboot_required") is True,  # a target's anything else is no
            final.get("will_reboot") is True,
            _advisories(_items(final.get("updates"))),
            _mapping(final.get("changes")),
            _mapping(final.get("services")),
        )

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    """Return a list's items; what a target put there instead (a number, a text) is none."""
    return value if isinstance(value, list) else []


def _advisories(updates: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Return id -> advisory, severity, CVEs and issued date of the scanned updates that name
    one (issued: "" from clients before --min-age on dnf/zypper)."""
    return {
        str(u.get("id")): {k: u.get(k) for k in ("advisory", "severity", "cves", "issued")}
        for u in updates
        if isinstance(u, Mapping) and u.get("advisory")
    }


def extend_plan(frozen: Mapping[str, str], offered: Mapping[str, str]) -> dict[str, str]:
    """Return the plan for a later round: round 1's versions bound known ids; ids that appear
    only later (after a servicing-stack update) join at the version first offered."""
    return {**dict(offered), **dict(frozen)}


def find_loops(earlier: Sequence[RoundReport], offered: Mapping[str, str]) -> list[str]:
    """Return ids installed successfully in an earlier round that are offered again as is."""
    installed = {
        r.id: r.version for report in earlier for r in report.results if r.status == "installed"
    }
    return sorted(
        i for i, version in offered.items() if i in installed and installed[i] in ("", version)
    )


def should_continue(report: RoundReport, *, action: str, is_rebooted: bool) -> bool:
    """Tell whether another round may find work: only an install round followed by a reboot
    can make new updates appear (servicing stack, kernel-dependent packages)."""
    return action == "install" and is_rebooted and report.status not in ("error", "nothing")


def final_updates(reports: Sequence[RoundReport]) -> list[UpdateResult]:
    """Return one result per update: installed in any round wins, else its last result."""
    finals: dict[str, UpdateResult] = {}
    for report in reports:
        for result in report.results:
            if finals.get(result.id, result).status != "installed" or result.id not in finals:
                finals[result.id] = result
    return sorted(finals.values(), key=lambda r: r.id)


def found_installed(
    reports: Sequence[RoundReport],
    planned: Mapping[str, Any],
    versions: Mapping[str, Any],
    round_no: int,
) -> list[UpdateResult]:
    """Return an `installed` result for each planned update the package database holds at
    its planned version while no round said it was installed: it failed (dpkg killed in its
    postinst, finished by a later repair) or was never reported (a round cut short). A
    scriptlet failure stays failed: rpm keeps such a package at its new version by design."""
    said = {r.id: r for r in final_updates(reports)}
    found = []
    for update_id, version in sorted(planned.items()):
        if versions.get(update_id) != version:
            continue
        before = said.get(update_id)
        if before is not None and before.status == "installed":
            continue
        if before is not None and before.code == "scriptlet-failed":
            continue
        why = "found installed at the run's end (read from the package database)"
        if before is not None:
            why += f"; round {before.round} had said {before.status}: {before.message}"
        found.append(UpdateResult(str(update_id), "installed", str(version), why, "", round_no))
    return found


def outcome_of(action: str, reports: Sequence[RoundReport], *, is_reboot_pending: bool) -> Outcome:
    """Return how the update work went (errors before a result are handled by the caller)."""
    if action == "scan":
        return Outcome.UPDATES_AVAILABLE if reports and reports[-1].selected else Outcome.SUCCESS
    finals = final_updates(reports)
    failed = sum(1 for r in finals if r.status == "failed")
    applied = sum(1 for r in finals if r.status in ("installed", "downloaded"))
    if failed:
        return Outcome.PARTIAL if applied else Outcome.ALL_FAILED
    return Outcome.REBOOT_PENDING if is_reboot_pending else Outcome.SUCCESS

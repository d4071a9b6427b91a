"""Which scanned updates a round installs: include/exclude globs, classification, frozen plan.

Pure functions. The frozen plan maps an update id to the highest version allowed; whether a
candidate exceeds it is the backend's comparison (Debian version order for apt).
"""

import fnmatch
from typing import Callable, Dict, List, NamedTuple, Sequence, Tuple

from patchpilot.client.backends.base import Update
from patchpilot.client.jobspec import Selection

__all__ = ["Plan", "select_updates"]

Exceeds = Callable[[str, str], bool]


class Plan(NamedTuple):
    selected: Tuple[Update, ...]
    skipped: Tuple[Tuple[str, str], ...]  # (id, reason)

    def frozen(self) -> Dict[str, str]:
        """Return the plan later rounds must not exceed: id -> chosen version."""
        return {u.id: u.candidate_version for u in self.selected}

    def to_fields(self) -> Dict[str, object]:
        return {
            "selected": [u.id for u in self.selected],
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "plan": self.frozen(),
        }


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def skip_reason(update: Update, selection: Selection, exceeds: Exceeds) -> str:
    """Return why update is not selected, or "" when it is."""
    if selection.include and not _matches(update.id, selection.include):
        return "not in the include list"
    if _matches(update.id, selection.exclude):
        return "in the exclude list"
    if selection.classification == "security" and not update.is_security:
        return "not a security update"
    if selection.severities and update.severity.lower() not in selection.severities:
        return "severity %s not selected" % (update.severity or "unknown")
    if selection.advisories and not _matches(update.advisory, selection.advisories):
        return "advisory %s not selected" % (update.advisory or "(none)")
    if selection.cves and not set(update.cves) & set(selection.cves):
        return "fixes none of the selected CVEs"
    if selection.plan is not None:
        planned = selection.plan.get(update.id)
        if planned is None:
            return "not in the frozen plan"
        if exceeds(update.candidate_version, planned):
            return "candidate %s exceeds the frozen plan's %s" % (update.candidate_version, planned)
    return ""


def select_updates(updates: Sequence[Update], selection: Selection, exceeds: Exceeds) -> Plan:
    """Split updates into the selected ones and the skipped ones with their reasons."""
    selected: List[Update] = []
    skipped: List[Tuple[str, str]] = []
    for update in sorted(updates, key=lambda u: u.id):
        reason = skip_reason(update, selection, exceeds)
        if reason:
            skipped.append((update.id, reason))
        else:
            selected.append(update)
    return Plan(tuple(selected), tuple(skipped))

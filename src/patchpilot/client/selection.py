"""Which scanned updates a round installs: include/exclude globs, classification, advisory,
release age (--min-age), frozen plan; and which it reports without installing.

Pure functions. The frozen plan maps an update id to the highest version allowed; whether a
candidate exceeds it is the backend's comparison (Debian version order for apt). An update
that would be selected but is held on the target (apt-mark hold, dnf versionlock, a zypper
lock, hidden on Windows) or too young for --min-age is never selected: it goes into the
round's results as `held` or `skipped` (with why and, for --min-age, from when it is
eligible), so that reports show it instead of listing it as pending. (A held update keeps its
version in the frozen plan, as a ceiling for a fleet's servers that do not hold it.)
"""

import datetime
import fnmatch
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from patchpilot.client.age import age_reason
from patchpilot.client.backends.base import Update, UpdateResult
from patchpilot.client.jobspec import Selection

__all__ = ["Plan", "select_updates"]

Exceeds = Callable[[str, str], bool]


class Plan(NamedTuple):
    selected: Tuple[Update, ...]
    skipped: Tuple[Tuple[str, str], ...]  # (id, reason)
    reported: Tuple[UpdateResult, ...] = ()  # held or too young: results, never installed
    held: Tuple[Update, ...] = ()  # locked here, maybe not on a fleet's other servers

    def frozen(self) -> Dict[str, str]:
        """Return the plan later rounds (and a fleet's servers) must not exceed: id -> chosen
        version. A held update keeps its ceiling: a lock on the server a fleet's plan is frozen
        on must not keep the update from the others."""
        return {u.id: u.candidate_version for u in (*self.selected, *self.held)}

    def to_fields(self) -> Dict[str, object]:
        return {
            "selected": [u.id for u in self.selected],
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "held": [r.id for r in self.reported if r.status == "held"],
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


def select_updates(
    updates: Sequence[Update],
    selection: Selection,
    exceeds: Exceeds,
    hold_note: str = "held back on the target",
    today: Optional[datetime.date] = None,
) -> Plan:
    """Split updates into the selected ones, the skipped ones with their reasons, and those
    reported without being installed (held: hold_note says by what; too young: --min-age).

    today is the UTC date the release ages count to (default: now).
    """
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    selected: List[Update] = []
    skipped: List[Tuple[str, str]] = []
    reported: List[UpdateResult] = []
    held: List[Update] = []
    for update in sorted(updates, key=lambda u: u.id):
        reason = skip_reason(update, selection, exceeds)
        young = _age(update, selection, today)
        if reason:
            skipped.append((update.id, reason))
        elif "held" in update.categories:
            held.append(update)
            reported.append(UpdateResult(update.id, "held", None, hold_note))
        elif young:
            skipped.append((update.id, young))
            reported.append(UpdateResult(update.id, "skipped", update.candidate_version, young))
        else:
            selected.append(update)
    return Plan(tuple(selected), tuple(skipped), tuple(reported), tuple(held))


def _age(update: Update, selection: Selection, today: datetime.date) -> str:
    return age_reason(update.issued, selection.min_age, selection.min_age_undated, today) or ""

"""The connector's own records in a run's journal: hooks, health checks, withheld reboots,
the installed versions read at a run's end.

The store keeps them as round 0 beside the client's rounds; the hooks write them, the
change process and the run's result read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patchpilot.connector.plan import RoundReport, found_installed

__all__ = ["HOOK_ROUND", "INSTALLED_EVENT", "settled_report", "withheld_rounds"]

HOOK_ROUND = 0  # the store's journal keeps the connector's own records as round 0
INSTALLED_EVENT = "run.installed"  # the planned updates' versions read at the end (settlement)


def withheld_rounds(records: list[dict[str, Any]]) -> dict[int, str]:
    """Return the rounds whose reboot the connector withheld, and by what (hook, deadline)."""
    found = {}
    for entry in records:
        fields = entry.get("fields")
        if entry.get("event") == "reboot.withheld" and isinstance(fields, dict):
            found[int(fields.get("round", 0))] = str(fields.get("by", "hook"))
    return found


def settled_report(records: list[dict[str, Any]], reports: list[RoundReport]) -> RoundReport | None:
    """Return a report of the planned updates the last `run.installed` record found at their
    planned version while the rounds did not say they were installed, or None."""
    found = [r for r in records if r.get("event") == INSTALLED_EVENT]
    fields = found[-1].get("fields") if found else None
    if not isinstance(fields, Mapping):
        return None
    planned, versions = fields.get("planned"), fields.get("versions")
    if not isinstance(planned, Mapping) or not isinstance(versions, Mapping):
        return None
    round_no = fields.get("round")
    round_no = round_no if isinstance(round_no, int) else 0
    results = found_installed(reports, planned, versions, round_no)
    return RoundReport(round_no, "settled", tuple(results)) if results else None

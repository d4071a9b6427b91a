"""The connector's own records in a run's journal: hooks, health checks, withheld reboots.

The store keeps them as round 0 beside the client's rounds; the hooks write them, the
change process and the run's result read them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HOOK_ROUND", "withheld_rounds"]

HOOK_ROUND = 0  # the store's journal keeps the connector's own records as round 0


def withheld_rounds(records: list[dict[str, Any]]) -> dict[int, str]:
    """Return the rounds whose reboot the connector withheld, and by what (hook, deadline)."""
    found = {}
    for entry in records:
        fields = entry.get("fields")
        if entry.get("event") == "reboot.withheld" and isinstance(fields, dict):
            found[int(fields.get("round", 0))] = str(fields.get("by", "hook"))
    return found

"""What the connector checks of a frozen plan it did not choose itself (the fleet's plan host).

Root on the `--plan-from` server decides every server's plan: it can leave a security update
out for the whole fleet, or, with a malformed entry, make every job spec invalid. So the plan
is checked before any server gets it (ids and versions well-formed, a bounded size: else the
fleet stops, exit 72, naming the plan host), and each server reports, as a warning, what it
offers as a security update that the plan left out. The trust that remains (the plan host
chooses *which* of the offered updates are installed) is documented in docs/security.md.
Entries a server does not offer are never installed there: the client only picks from its
own scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from patchpilot.errors import ClientProtocolError
from patchpilot.protocol.parts import join_parts

__all__ = ["MAX_PLAN_ENTRIES", "check_plan", "security_left_out"]

# Debian package names and versions (epoch:upstream-revision, ~ and +), KB numbers, UpdateIDs
# (matched whole: `$` would also accept a final newline)
_ENTRY = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,199}")
MAX_PLAN_ENTRIES = 100_000
SCAN_EVENTS = ("scan.done", "scan.done.part")


def check_plan(plan: Any, source: str) -> dict[str, str]:
    """Return plan if it maps well-formed ids to well-formed versions; raise
    ClientProtocolError if not (plan may be anything: an XCom value, a stored document)."""
    if not isinstance(plan, Mapping):
        raise ClientProtocolError(
            f"the plan from {source} is not a mapping of ids to versions "
            f"({type(plan).__name__}): refusing to give it to any server"
        )
    if len(plan) > MAX_PLAN_ENTRIES:
        raise ClientProtocolError(
            f"the plan from {source} has {len(plan):,} entries (at most {MAX_PLAN_ENTRIES:,})"
        )
    for update_id, version in plan.items():
        if not (_is_entry(update_id) and _is_entry(version)):
            raise ClientProtocolError(
                f"the plan from {source} is malformed at {str(update_id)[:80]!r} -> "
                f"{str(version)[:80]!r}: refusing to give it to any server"
            )
    return dict(plan)


def _is_entry(value: Any) -> bool:
    return isinstance(value, str) and _ENTRY.fullmatch(value) is not None


def security_left_out(records: Iterable[Mapping[str, Any]], plan: Mapping[str, str]) -> list[str]:
    """Return the ids a server's scan (scan.done records) offers as security updates that
    the plan does not list."""
    left: set[str] = set()
    for record in join_parts(records):
        if record.get("event") != "scan.done":
            continue
        for update in (record.get("fields") or {}).get("updates") or ():
            is_security = isinstance(update, Mapping) and update.get("is_security")
            if is_security and str(update.get("id")) not in plan:
                left.add(str(update.get("id")))
    return sorted(left)

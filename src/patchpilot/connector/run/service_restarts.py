"""A run's service restarts (`--reboot services`): what each round restarted, left alone or
failed to bring back, and why it rebooted or did not. Pure.

Each install round's final record carries `services` (client/restart.py). A target's record
is untrusted: only the expected fields, of the expected types, are kept. A service that did
not come back fails the run like a failed health check (exit 83, HealthError).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from patchpilot.errors import HealthError

__all__ = ["MAX_UNITS", "check_restarts", "kept_warnings", "merge_services"]

MAX_UNITS = 500  # entries of each list kept per round (a client restarts 200 at most)


def merge_services(rounds: Iterable[tuple[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """Return the run's {"restarted", "failed", "kept", "reboot"} from (round, services)
    pairs in round order; {} when no round restarted services."""
    merged: dict[str, list[dict[str, Any]]] = {"restarted": [], "failed": [], "kept": []}
    reboot: list[dict[str, Any]] = []
    for round_no, services in rounds:
        for entry in _entries(services, "restarted"):
            merged["restarted"].append({**_unit(entry, round_no), **_pids(entry)})
        for entry in _entries(services, "failed"):
            message = str(entry.get("message", ""))[:2000]
            merged["failed"].append({**_unit(entry, round_no), "message": message})
        for entry in _entries(services, "kept"):
            why = str(entry.get("why", ""))[:500]
            merged["kept"].append({**_unit(entry, round_no), "why": why})
        reboot.append({"round": round_no, "why": str(services.get("reboot", ""))[:4000]})
    return {**merged, "reboot": reboot} if reboot else {}


def check_restarts(services: Mapping[str, Any], last_round: int) -> None:
    """Raise HealthError when the last round's restarted services did not all come back."""
    failed = [e for e in services.get("failed", ()) if e.get("round") == last_round]
    if failed:
        said = "; ".join(f"{e['unit']}: {e['message']}" for e in failed)
        raise HealthError(f"{len(failed)} service(s) did not come back after their restart: {said}")


def kept_warnings(services: Mapping[str, Any], last_round: int) -> list[str]:
    """Return a warning per service the last round left on replaced files (--no-restart, the
    built-in exclusions): it runs the old code until restarted or rebooted."""
    return [
        f"{e['unit']} still runs replaced files, not restarted: {e['why']}"
        for e in services.get("kept", ())
        if e.get("round") == last_round
    ]


def _entries(services: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    found = services.get(key)
    items = found[:MAX_UNITS] if isinstance(found, list) else []
    return [e for e in items if isinstance(e, Mapping) and isinstance(e.get("unit"), str)]


def _unit(entry: Mapping[str, Any], round_no: int) -> dict[str, Any]:
    return {"unit": str(entry["unit"])[:256], "round": round_no}


def _pids(entry: Mapping[str, Any]) -> dict[str, int | None]:
    return {
        key: value if isinstance(value, int) and not isinstance(value, bool) else None
        for key, value in ((k, entry.get(k)) for k in ("old_pid", "new_pid"))
    }

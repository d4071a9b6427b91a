"""What a round's results add up to: its status and whether it reboots. Pure functions."""

from typing import Sequence

from patchpilot.client.backends.base import UpdateResult

__all__ = ["round_status", "will_reboot"]

_DONE = ("installed", "downloaded")


def round_status(action: str, selected: int, results: Sequence[UpdateResult]) -> str:
    """Return success, partial, failed or nothing for a round that reached its result."""
    if selected == 0:
        return "nothing"
    if action == "scan":
        return "success"
    done = sum(1 for r in results if r.status in _DONE)
    if done == len(results) and done == selected:
        return "success"
    return "partial" if done else "failed"


def will_reboot(action: str, policy: str, status: str, reboot_required: bool) -> bool:
    """Say whether the round ends with a reboot: installs only, by policy, never after an error."""
    if action != "install" or status == "error":
        return False
    return policy == "always" or (policy in ("if-required", "services") and reboot_required)

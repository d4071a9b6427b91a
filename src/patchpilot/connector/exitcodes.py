"""The exit codes a scheduler sees: the native table and the WSUS connector's table.

Native (`--exit-codes native`, the default) stays in 0..123, so it never collides with the
shell's 124-127 (timeout/not executable/not found) or 128+N (killed by signal N):

    0  success: every selected update applied (or nothing to apply)
   10  success, reboot pending (a reboot is required but `--reboot never`)
   20  check-only: updates are available
   30  partial failure: some updates failed, the others applied
   31  all failed: every attempted update failed
   64  usage or configuration error (bad option, malformed list or inventory file)
   69  target unreachable (connect, DNS, authentication, host key)
   70  internal error (a bug; traceback in the state dir's connector.log)
   71  the target's scheduler would not launch the client
   72  the client's endpoint misbehaved or failed to authenticate
   73  the target did not come back after a reboot (or never rebooted)
   74  another run holds the target's lock
   75  timeout: a named phase (or --timeout) ran out of time
   76  the local state store is unusable
   77  the client could not complete a round (job refused, backend error)
   78  rounds were interrupted (target reset, client killed) more than --max-interruptions
       times; each was recovered up to then (docs/reliability.md)
   80  cancelled (SIGTERM/SIGINT)
   81  the `pre` hook failed: the run stopped before any change
   82  a later hook (`pre-reboot`, `post-reboot`, `post`) failed; applied updates are reported
   83  health: --ready-command or --require-service failed after a reboot (or at the end),
       or a service --reboot services restarted did not come back
   84  the maintenance window (--deadline minus --cutoff) ended the work: rounds (or fleet
       servers) not started are reported so
   86  `patchpilot fleet` only: servers failed with different codes, or the rollout stopped
       early (servers not started); when every failure has one code, the fleet exits with
       it. Each server's own code is in the fleet result (`fleet.EXIT_FLEET_FAILED`)

WSUS (`--exit-codes wsus`) is the SMA OpCon WSUS connector's table: install mode 0/5/10/15
(nothing installed; +5 warnings; +10 rebooted), 100/105/110/115 (updates installed), 9 (an
update failed after a reboot); check-only mode adds 1000; -1 for any failure. A POSIX exit
status is the code modulo 256 (-1 → 255, 1100 → 76); the result file keeps the full code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from patchpilot.errors import PatchpilotError

__all__ = [
    "NATIVE",
    "Outcome",
    "Tally",
    "native_code",
    "outcome_of_error",
    "posix_status",
    "wsus_code",
]


class Outcome(enum.Enum):
    """How a run ended, independent of the exit-code table."""

    SUCCESS = "success"
    REBOOT_PENDING = "success-reboot-pending"
    UPDATES_AVAILABLE = "updates-available"
    PARTIAL = "partial"
    ALL_FAILED = "failed"
    USAGE = "usage-error"
    UNREACHABLE = "unreachable"
    INTERNAL = "internal-error"
    LAUNCH_FAILED = "launch-failed"
    CLIENT_PROTOCOL = "client-protocol-error"
    NOT_BACK = "did-not-come-back"
    LOCKED = "locked"
    TIMEOUT = "timeout"
    STATE = "state-error"
    CLIENT_FAILED = "client-failed"
    INTERRUPTED = "interrupted"
    NO_PYTHON = "no-python"
    CANCELLED = "cancelled"
    PRE_HOOK_FAILED = "pre-hook-failed"
    HOOK_FAILED = "hook-failed"
    UNHEALTHY = "unhealthy"
    WINDOW_CLOSED = "window-closed"


NATIVE: dict[Outcome, int] = {
    Outcome.SUCCESS: 0,
    Outcome.REBOOT_PENDING: 10,
    Outcome.UPDATES_AVAILABLE: 20,
    Outcome.PARTIAL: 30,
    Outcome.ALL_FAILED: 31,
    Outcome.USAGE: 64,
    Outcome.UNREACHABLE: 69,
    Outcome.INTERNAL: 70,
    Outcome.LAUNCH_FAILED: 71,
    Outcome.CLIENT_PROTOCOL: 72,
    Outcome.NOT_BACK: 73,
    Outcome.LOCKED: 74,
    Outcome.TIMEOUT: 75,
    Outcome.STATE: 76,
    Outcome.CLIENT_FAILED: 77,
    Outcome.INTERRUPTED: 78,
    Outcome.NO_PYTHON: 79,
    Outcome.CANCELLED: 80,
    Outcome.PRE_HOOK_FAILED: 81,
    Outcome.HOOK_FAILED: 82,
    Outcome.UNHEALTHY: 83,
    Outcome.WINDOW_CLOSED: 84,
}
_BY_CODE = {code: outcome for outcome, code in NATIVE.items()}
_UPDATE_OUTCOMES = {
    Outcome.SUCCESS,
    Outcome.REBOOT_PENDING,
    Outcome.UPDATES_AVAILABLE,
    Outcome.PARTIAL,
    Outcome.ALL_FAILED,
}


@dataclass(frozen=True)
class Tally:
    """What the WSUS table needs to know about a run besides its outcome."""

    is_check_only: bool = False
    applied: int = 0  # installed (or downloaded, or available in check-only mode)
    is_rebooted: bool = False
    has_warnings: bool = False


def outcome_of_error(error: PatchpilotError) -> Outcome:
    """Return the outcome an error stands for (its class's exit code is the native code)."""
    return _BY_CODE.get(error.exit_code, Outcome.INTERNAL)


def native_code(outcome: Outcome) -> int:
    return NATIVE[outcome]


def wsus_code(outcome: Outcome, tally: Tally) -> int:
    """Return the WSUS connector's code for outcome; -1 for every kind of failure."""
    if outcome not in _UPDATE_OUTCOMES:
        return -1
    if outcome in (Outcome.PARTIAL, Outcome.ALL_FAILED):
        return 9 if tally.is_rebooted and not tally.is_check_only else -1
    code = (100 if tally.applied else 0) + (10 if tally.is_rebooted else 0)
    code += 5 if tally.has_warnings else 0
    return code + (1000 if tally.is_check_only else 0)


def posix_status(code: int) -> int:
    """Return the process exit status that carries code (POSIX keeps 8 bits: -1 → 255)."""
    return code & 0xFF

"""The connector's error tree; every class knows the exit code the CLI turns it into.

    PatchpilotError                      (root; exit 70 = internal)
    ├── ConfigurationError               usage, bad option, malformed list/inventory file (exit 64)
    ├── TransportError                   could not reach or talk to the target (exit 69)
    │   ├── ConnectError                 refused, unreachable, DNS
    │   ├── AuthenticationError          key/agent/certificate refused
    │   ├── HostKeyError                 unknown or changed host key (carries the fingerprint)
    │   └── TransportTimeout             a transport operation ran out of time
    ├── LaunchError                      the target's scheduler would not start the client (exit 71)
    ├── NoInterpreterError               no Python >= 3.6 on the target (exit 79, nothing changed)
    ├── ClientProtocolError              the client's endpoint misbehaved or refused us (exit 72)
    │   └── OutputLimitError             the target sent more than patchpilot takes in (a bound)
    ├── PhaseTimeout                     a named phase of a round ran out of time (exit 75)
    ├── RebootError                      the target did not come back / did not reboot (exit 73)
    ├── TargetLockedError                another run holds the target (exit 74)
    ├── StateError                       the local state store is unusable (exit 76)
    ├── ClientFailedError                the client could not complete a round (exit 77)
    │   └── RoundFailedError             ...and said why (its final record, or it refused the
    │                                    job spec): the target is free
    ├── RoundInterrupted                 a round ended without its final record: the target
    │   │                                rebooted unasked or the client died (recovered by
    │   │                                the round loop: connector/run/interruption.py)
    │   └── TooManyInterruptions         ...more than --max-interruptions times (exit 78)
    ├── HookError                        an operator hook failed: `pre` (exit 81, nothing
    │                                    changed), a later one (exit 82)
    ├── HealthError                      --ready-command / --require-service failed (exit 83)
    ├── WindowClosed                     the maintenance window ended the work (exit 84)
    └── Cancelled                        SIGTERM/SIGINT (exit 80)

Only the CLI turns these into a message and an exit code (see connector/exitcodes.py for the
native table, which these codes follow). `is_target_free` says whether a run failing with the
error leaves nothing of its own in flight on the target (no client running, no reboot coming),
so that the run frees the target's lock (connector/run/prepare.py `target_lock`): usage errors,
a client that never started or that ended its round itself, hooks, health, the window.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "Cancelled",
    "ClientFailedError",
    "ClientProtocolError",
    "ConfigurationError",
    "ConnectError",
    "HealthError",
    "HookError",
    "HostKeyError",
    "LaunchError",
    "NoInterpreterError",
    "OutputLimitError",
    "PatchpilotError",
    "PhaseTimeout",
    "RebootError",
    "RoundFailedError",
    "RoundInterrupted",
    "StateError",
    "TargetLockedError",
    "TooManyInterruptions",
    "TransportError",
    "TransportTimeout",
    "WindowClosed",
]


class PatchpilotError(Exception):
    """Root of every error patchpilot raises on purpose."""

    exit_code = 70
    is_target_free = False  # see the module docstring: True frees the target's lock


class ConfigurationError(PatchpilotError):
    exit_code = 64
    is_target_free = True  # refused before a change: by the connector, or by the client


class TransportError(PatchpilotError):
    exit_code = 69


class ConnectError(TransportError):
    pass


class AuthenticationError(TransportError):
    pass


class HostKeyError(TransportError):
    def __init__(self, message: str, *, fingerprint: str | None = None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


class TransportTimeout(TransportError):
    pass


class LaunchError(PatchpilotError):
    exit_code = 71
    is_target_free = True  # raised only when the client (or call) is known not to run


class NoInterpreterError(PatchpilotError):
    """No Python the client runs on (CPython >= 3.6) was found on the target: found before
    anything is copied or claimed there, so nothing changed (connector/targets/interpreter.py)."""

    exit_code = 79
    is_target_free = True


class ClientProtocolError(PatchpilotError):
    exit_code = 72


class OutputLimitError(ClientProtocolError):
    """A command's output, or a round's journal, went past its bound: that server fails."""


class RebootError(PatchpilotError):
    exit_code = 73

    def __init__(self, message: str, *, phase: str | None = None) -> None:
        super().__init__(message)
        self.phase = phase


class TargetLockedError(PatchpilotError):
    exit_code = 74


class PhaseTimeout(PatchpilotError):
    exit_code = 75

    def __init__(self, phase: str, seconds: float) -> None:
        super().__init__(f"phase '{phase}' timed out after {seconds:g} s")
        self.phase = phase
        self.seconds = seconds


class StateError(PatchpilotError):
    exit_code = 76


class Cancelled(PatchpilotError):
    exit_code = 80


class ClientFailedError(PatchpilotError):
    """The client ran but could not complete a round (job refused, backend error)."""

    exit_code = 77


class RoundFailedError(ClientFailedError):
    """The client ended its round itself and said why: an error in its final record (e.g.
    dpkg's lock wait ran out) or a refused job spec (client exit 2, before any change).
    Nothing is in flight and no reboot follows, so the run frees the target's lock."""

    is_target_free = True


class RoundInterrupted(PatchpilotError):
    """A round ended without its final record: the target rebooted unasked (reset, power
    cut) or the client's process ended (kill -9, OOM). The round loop recovers it; only
    when it cannot (the limit) does a run end with it."""

    exit_code = 78

    def __init__(self, message: str, *, is_rebooted: bool) -> None:
        super().__init__(message)
        self.is_rebooted = is_rebooted


class TooManyInterruptions(RoundInterrupted):
    """The rounds were interrupted more than --max-interruptions times: the run stops."""

    def __init__(self, message: str) -> None:
        super().__init__(message, is_rebooted=False)


class HookError(PatchpilotError):
    """An operator hook exited non-zero or timed out; `pre` stops before any change."""

    exit_code = 82
    is_target_free = True  # the rounds are over (or never began): the hook's own failure

    def __init__(self, message: str, *, point: str) -> None:
        super().__init__(message)
        self.phase = f"hook.{point}"
        if point == "pre":
            self.exit_code = 81


class HealthError(PatchpilotError):
    """The target did not prove healthy (ready command, required services) in time."""

    exit_code = 83
    is_target_free = True  # the target's own state: nothing of the run runs any more

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.phase = "health"


class WindowClosed(PatchpilotError):
    """The maintenance window (--deadline minus --cutoff) ended before the work did."""

    exit_code = 84
    is_target_free = True  # between rounds: the next one was not started

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.phase = "window"

"""Where one run on one target stands: `RunStatus`, the word `status`, fleet recaps and
reports show for it.

The store's `runs.status` holds RUNNING until the run ends, then the run's outcome (an
`Outcome` value, which says more); `RunStatus.of` folds an outcome into the two ends a
scheduler or a report cares about.
"""

from __future__ import annotations

import enum

from patchpilot.connector.exitcodes import Outcome

__all__ = ["RunStatus"]

_DONE = frozenset(
    o.value for o in (Outcome.SUCCESS, Outcome.REBOOT_PENDING, Outcome.UPDATES_AVAILABLE)
)


class RunStatus(enum.StrEnum):
    """A run's stage: running → succeeded | failed; a fleet's server may stay not-started.
    The values are what the store, the fleet document and the reports hold."""

    # Started and not ended: a connector follows it, or one was killed and the same run id
    # resumes it (a cancelled run resumes too, but its status is its outcome).
    RUNNING = "running"
    # Ended having done its job: installed (a reboot maybe pending) or, checking only, found
    # what is available.
    SUCCEEDED = "succeeded"
    # Ended any other way (cancelled, failed updates, unreachable...): its outcome says how.
    FAILED = "failed"
    # Never started: the fleet's rollout stopped (failure threshold, window) before it.
    NOT_STARTED = "not-started"

    @classmethod
    def of(cls, outcome: Outcome | str | None) -> RunStatus:
        """Return the status of a run that ended with outcome (an Outcome or its value)."""
        value = outcome.value if isinstance(outcome, Outcome) else outcome
        return cls.SUCCEEDED if value in _DONE else cls.FAILED

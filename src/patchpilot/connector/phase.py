"""The states a round passes through, as stored after every step (`RoundRow.phase`).

A resumed connector reads the stored phase and picks up at the step it names, so each state
says exactly what has and has not happened on the target.
"""

from __future__ import annotations

import enum

__all__ = ["RoundPhase"]


class RoundPhase(enum.StrEnum):
    """One round's progress: new → launching → launched → streamed (→ rebooting → streamed)
    → done, or launched → interrupted. The values are what the store holds."""

    # Nothing done yet: the round is not stored (a fresh RoundRow only).
    NEW = "new"
    # The job spec is written and the scheduler asked; the task may exist or not, so a resumed
    # connector looks for the client's state before launching again.
    LAUNCHING = "launching"
    # The client started (its state.json exists) or its task exited: follow the journal.
    LAUNCHED = "launched"
    # The journal's final record is stored and acknowledged, and any reboot is proven.
    STREAMED = "streamed"
    # The client is rebooting the target after the acknowledgement: prove the new boot.
    REBOOTING = "rebooting"
    # Verified, and the scheduler's task cleared: the round's results count.
    DONE = "done"
    # Ended without its final record (target reset, client killed): the next round runs it
    # again with the same plan (connector/run/interruption.py).
    INTERRUPTED = "interrupted"

    @property
    def has_result(self) -> bool:
        """Tell whether the round's final record has been received."""
        return self not in (
            RoundPhase.NEW,
            RoundPhase.LAUNCHING,
            RoundPhase.LAUNCHED,
            RoundPhase.INTERRUPTED,
        )

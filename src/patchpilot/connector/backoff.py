"""How often to ask again while waiting for a target to change (come back, be ready).

A wait that grows by a factor per try overshoots the moment of the change by at most that
fraction of the time already waited: x1.2 from 0.25 s finds a 3 s reboot within ~0.6 s and a
60 s one within ~12 s (x1.5 from 0.5 s was up to 2.5 s late on the lab's busy reboots, the
largest part of a 10-server fleet's excess over the bare-command floor; docs/benchmarks.md).
The cap bounds the overshoot for long waits; the jitter keeps servers that went down
together (a fleet, a triggerer's waiting runs) from being asked in the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delays: `first`, then x`factor` per try up to `cap`, each spread by ±`jitter`."""

    first: float = 0.25
    factor: float = 1.2
    cap: float = 10.0
    jitter: float = 0.0

    def delays(self) -> Iterator[float]:
        """Yield the delays before each next try, without end (the caller's deadline ends)."""
        delay = self.first
        while True:
            spread = random.uniform(-self.jitter, self.jitter)  # noqa: S311 - not a secret
            yield delay * (1 + spread)
            delay = min(delay * self.factor, self.cap)

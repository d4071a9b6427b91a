"""The round's heartbeat: a journal record every few seconds while a long step runs.

A connector that hears nothing for a few heartbeats stops trusting the silence and asks the
target's scheduler and boot id whether the client still lives (connector/run/interruption.py);
the records also tell a reader which phase the client is in and for how long.
"""

import threading
import time
from typing import Callable, Optional, Tuple

from patchpilot.client.journal import Journal

__all__ = ["HEARTBEAT_SECONDS", "Heartbeat"]

HEARTBEAT_SECONDS = 15.0


class Heartbeat(object):
    """Journal `round.heartbeat` (phase, seconds in it) every interval until stopped;
    phase() returns the phase and when it began (time.monotonic)."""

    def __init__(
        self,
        journal: Journal,
        phase: Callable[[], Tuple[str, float]],
        interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._journal = journal
        self._phase = phase
        self._interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="heartbeat")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            phase, since = self._phase()
            self._journal.append(
                "round.heartbeat", phase=phase, seconds=int(time.monotonic() - since)
            )

"""The launcher seam: the target's own scheduler starts the client, detached from our session.

Implementations: `systemd_run.py` (transient unit), `at.py` (atd job), `schtasks.py` (Windows
Task Scheduler). A launcher only builds and runs scheduler commands through a Transport; it
never runs the update itself.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from patchpilot.transports.base import Transport

__all__ = ["Launcher", "TaskHandle", "TaskState", "TaskStatus"]


class TaskState(enum.Enum):
    QUEUED = "queued"  # accepted by the scheduler, not started yet
    RUNNING = "running"
    EXITED = "exited"  # finished; exit_status is known
    FAILED_TO_START = "failed-to-start"
    UNKNOWN = "unknown"  # the scheduler no longer knows it (e.g. after a reboot)


@dataclass(frozen=True)
class TaskHandle:
    """What the connector records to find the task again after a restart."""

    launcher: str
    task_id: str


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    exit_status: int | None = None
    detail: str = ""


class Launcher(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    async def is_available(self, transport: Transport) -> bool:
        """Tell whether this scheduler exists and works on the target."""

    @abc.abstractmethod
    async def launch(
        self, transport: Transport, argv: Sequence[str], *, run_id: str, start_delay: float = 0
    ) -> TaskHandle:
        """Ask the target's scheduler to run argv as root/SYSTEM; raise LaunchError if refused."""

    def handle_for(self, key: str) -> TaskHandle | None:
        """Return the handle `launch(run_id=key)` gives, when it is known beforehand (a
        connector that died mid-launch finds the task again by it); None when it is not."""
        return None

    @abc.abstractmethod
    async def status(self, transport: Transport, handle: TaskHandle) -> TaskStatus: ...

    @abc.abstractmethod
    async def cleanup(self, transport: Transport, handle: TaskHandle) -> None:
        """Remove what launch left with the scheduler; safe to call twice."""

"""The at launcher: the client runs as an atd job, with no controlling terminal or session.

`at` keeps no exit status, so the queued script records the client's pid, the boot id and
its exit status in `/var/lib/patchpilot/launch/<task>.*` (see transports/quoting.py). The
client's own state.json stays the reliable truth about the round; this is the fallback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from patchpilot.errors import LaunchError
from patchpilot.launchers.base import Launcher, TaskHandle, TaskState, TaskStatus
from patchpilot.transports import quoting
from patchpilot.transports.base import Transport

__all__ = ["AtLauncher", "at_time", "parse_job_id", "parse_status"]

LAUNCH_DIR = "/var/lib/patchpilot/launch"
_JOB_RE = re.compile(r"^job (\d+) at ", re.MULTILINE)


def at_time(start_delay: float) -> list[str]:
    """Return at's time arguments: `now`, or `now + N minutes` rounded up."""
    if start_delay <= 0:
        return ["now"]
    return ["now", "+", str(math.ceil(start_delay / 60)), "minutes"]


def parse_job_id(output: str) -> str | None:
    """Return the job number from at's confirmation ("job 7 at Wed Nov 25 ...")."""
    match = _JOB_RE.search(output)
    return match.group(1) if match else None


def parse_status(output: str) -> TaskStatus:
    """Map the status script's one line to a TaskStatus (pure, golden-tested)."""
    words = output.split()
    if words[:1] == ["exited"] and len(words) == 2 and words[1].lstrip("-").isdigit():
        return TaskStatus(TaskState.EXITED, int(words[1]))
    states = {"running": TaskState.RUNNING, "queued": TaskState.QUEUED}
    if len(words) == 1 and words[0] in states:
        return TaskStatus(states[words[0]])
    return TaskStatus(TaskState.UNKNOWN, detail=output.strip() or "no output")


def _files(task: str) -> str:
    return f"{LAUNCH_DIR}/{task}"


class AtLauncher(Launcher):
    """Launch the client as an at job."""

    name = "at"

    async def is_available(self, transport: Transport) -> bool:
        return (await transport.run(["sh", "-c", "command -v at && command -v atq"])).ok

    async def launch(
        self, transport: Transport, argv: Sequence[str], *, run_id: str, start_delay: float = 0
    ) -> TaskHandle:
        script = quoting.at_job_script(argv, _files(run_id)).encode()
        queued = await transport.run(["at", "-M", *at_time(start_delay)], input=script)
        job = parse_job_id(queued.stderr + queued.stdout)
        if not queued.ok or job is None:
            reason = queued.stderr.strip() or f"exit status {queued.exit_status}"
            raise LaunchError(f"at refused the job: {reason}")
        return TaskHandle(self.name, f"{run_id}#{job}")

    async def status(self, transport: Transport, handle: TaskHandle) -> TaskStatus:
        task, _, job = handle.task_id.rpartition("#")
        shown = await transport.run(quoting.at_status_script(job, _files(task)), timeout=30)
        return parse_status(shown.stdout)

    async def cleanup(self, transport: Transport, handle: TaskHandle) -> None:
        task, _, job = handle.task_id.rpartition("#")
        await transport.run(["atrm", job], timeout=30)
        files = [f"{_files(task)}.{ext}" for ext in ("pid", "boot", "exit", "log")]
        await transport.run(["rm", "-f", *files], timeout=30)

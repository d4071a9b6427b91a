"""The systemd-run launcher on a real lab server: a program that exits at once was launched.

systemd-run with `--quiet -p Type=exec` exits 1 with nothing on stderr when the program
exits non-zero before PID 1 has seen its exec: that race is common for a program that exits
at once, and under load for any short-lived client. The launch must still be reported as
done, with the program's exit status read back through `status`; a retried launch of the
same unit finds it.
"""

from __future__ import annotations

import asyncio

import pytest

from patchpilot.lab.lab import Lab
from patchpilot.lab.server import Server
from patchpilot.launchers import TaskState
from patchpilot.launchers.systemd_run import SystemdRunLauncher
from patchpilot.transports.ssh import SSHSettings, SSHTransport

pytestmark = pytest.mark.lab


async def test_a_program_that_exits_at_once_is_launched_and_its_status_read(
    lab: Lab, lab_server: Server
) -> None:
    launcher = SystemdRunLauncher()
    settings = SSHSettings(host=lab_server.name, config_file=str(lab.ssh_config_path))
    async with SSHTransport(settings) as transport:
        argv = ["/bin/sh", "-c", "exit 3"]
        handles = await asyncio.gather(
            *(launcher.launch(transport, argv, run_id=f"fast-r{n}") for n in range(6))
        )
        again = await launcher.launch(transport, argv, run_id="fast-r0")  # a retried launch
        assert again == handles[0]
        for handle in handles:
            for _ in range(100):
                status = await launcher.status(transport, handle)
                if status.state is TaskState.EXITED:
                    break
                await asyncio.sleep(0.2)
            assert (status.state, status.exit_status) == (TaskState.EXITED, 3), status.detail
            await launcher.cleanup(transport, handle)

"""Count what the connector sends a Windows server in one run, on the emulated server.

On Windows every command the connector sends starts a `powershell.exe` (a few tenths of a
second each on a server, plus a WinRM or SSH round trip), so the number of commands, not
the CPU of either side, is what a run's overhead on Windows is made of. This runs the
servicing-stack-then-cumulative scenario (3 rounds, 2 restarts) end to end against the
emulated Windows server of the tests
(tests/unit/connector/targets/windows/windows_emulator.py: real SSH, the real client, the WUA
fake) and prints, per run, the commands by script kind and the
wall time. The emulator answers in microseconds, so the wall time here is the connector's
and client's own; on a real server add (commands x PowerShell start-up).

Usage: .venv/bin/python bench/windows_chattiness.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

HERE = Path(__file__).resolve().parent.parent
UNIT = HERE / "tests" / "unit" / "connector"
sys.path[:0] = [str(UNIT), str(UNIT / "targets" / "windows")]

from test_emulated import PYTHON, SCENARIO, patch, reachable  # noqa: E402
from windows_emulator import EmulatedWindows  # noqa: E402
from windows_fakes import script_kind  # noqa: E402


async def one_run(number: int) -> tuple[float, collections.Counter[str], int]:
    """Patch a fresh emulated server; return wall seconds, scripts by kind, exit code."""
    tmp = Path(tempfile.mkdtemp(prefix="pp-win-bench-"))
    machine = EmulatedWindows(tmp, SCENARIO, PYTHON)
    kinds: collections.Counter[str] = collections.Counter()
    serve = machine.serve

    async def counted(process: asyncssh.SSHServerProcess[bytes]) -> None:
        encoded = (process.command or "").split()[-1]
        kinds[script_kind(base64.b64decode(encoded).decode("utf-16-le"))] += 1
        await serve(process)

    machine.serve = counted
    async with reachable(machine) as settings:
        started = time.monotonic()
        result = await patch(settings, tmp, [], run_id=f"bench{number}", python=PYTHON)
        return time.monotonic() - started, kinds, result.exit_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    walls, totals = [], []
    for number in range(1, runs + 1):
        wall, kinds, code = asyncio.run(one_run(number))
        walls.append(wall)
        totals.append(sum(kinds.values()))
        detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        print(f"run {number}: exit {code}, {wall:.2f} s, {totals[-1]} commands ({detail})")
    print(
        f"median: {statistics.median(walls):.2f} s wall, {statistics.median(totals):.0f} "
        "PowerShell commands per run (3 rounds, 2 restarts, 4 client calls)"
    )


if __name__ == "__main__":
    main()

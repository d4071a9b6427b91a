"""A round's steps: the "still waiting" lines a long step prints, and when they stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from patchpilot.connector.events import Event, PhaseStarted
from patchpilot.connector.options import RunOptions
from patchpilot.connector.phase import RoundPhase
from patchpilot.connector.run.context import RoundContext
from patchpilot.connector.run.round_loop import _step
from patchpilot.connector.secret import Secret
from patchpilot.connector.store import RoundRow, RunRow, open_store
from patchpilot.connector.targets.linux import LinuxBootProbe, LinuxOS
from patchpilot.errors import PhaseTimeout
from patchpilot.launchers.systemd_run import SystemdRunLauncher
from patchpilot.transports.fake import FakeTransport

SAY_EVERY = 0.02


def _context(tmp_path: Path, events: list[Event]) -> RoundContext:
    store = open_store(tmp_path / "state")
    store.create_run(
        RunRow("r1", "t1", "install", "{}", Secret.generate(), "running", None, "t0", None, None)
    )
    return RoundContext(
        transport=FakeTransport(lambda argv, data: (0, "")),
        launcher=SystemdRunLauncher(),
        os=LinuxOS(),
        probe=LinuxBootProbe(),
        store=store,
        options=RunOptions(),
        run_id="r1",
        target="t1",
        secret=Secret.generate(),
        client="/c.pyz",
        emit=events.append,
        say_every=SAY_EVERY,
    )


def _waiting(events: list[Event]) -> list[str]:
    return [
        e.detail for e in events if isinstance(e, PhaseStarted) and e.phase.endswith(".waiting")
    ]


async def test_a_long_step_says_what_it_waits_for_until_it_ends(tmp_path: Path) -> None:
    events: list[Event] = []
    ctx = _context(tmp_path, events)
    row = RoundRow("r1", 1, RoundPhase.LAUNCHED)

    async def work() -> RoundRow:
        async with asyncio.timeout(5):  # three lines, however slow the machine
            while len(_waiting(events)) < 3:
                await asyncio.sleep(SAY_EVERY / 4)
        return row

    assert await _step(ctx, row, "stream", 60, work()) == row
    said = _waiting(events)
    await asyncio.sleep(5 * SAY_EVERY)
    assert _waiting(events) == said and len(said) == 3
    assert all(line.startswith("waiting for the client's final record: ") for line in said)
    assert said[0].endswith(" s of 60 s")


async def test_a_step_that_times_out_says_nothing_more(tmp_path: Path) -> None:
    events: list[Event] = []
    ctx = _context(tmp_path, events)
    row = RoundRow("r1", 1, RoundPhase.LAUNCHED)
    with pytest.raises(PhaseTimeout, match="verify"):
        await _step(ctx, row, "verify", 3 * SAY_EVERY, asyncio.sleep(60, row))
    said = _waiting(events)
    await asyncio.sleep(5 * SAY_EVERY)
    assert _waiting(events) == said and said

"""Reboot verification as a state machine, with a fake clock and a scripted boot id probe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from patchpilot.connector.run.reboot import Clock, RebootPolicy, await_back, await_reboot
from patchpilot.connector.targets.base import BootProbe, Readiness
from patchpilot.errors import PhaseTimeout, RebootError, TransportError
from patchpilot.transports.base import Transport
from patchpilot.transports.fake import FakeTransport


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    async def sleep(self, seconds: float) -> None:
        self.t += seconds

    def clock(self) -> Clock:
        return Clock(now=lambda: self.t, sleep=self.sleep)


class ScriptedProbe(BootProbe):
    """Boot ids in order (None = unreachable; the last one repeats); readiness likewise."""

    def __init__(self, ids: list[str | None], ready: list[str] | None = None) -> None:
        self.ids: Iterator[str | None] = iter(ids)
        self.last = ids[-1]
        self.ready = iter(ready or ["running"])
        self.last_ready = (ready or ["running"])[-1]

    async def boot_id(self, transport: Transport) -> str:
        value = next(self.ids, self.last)
        if value is None:
            raise TransportError("connection refused")
        return value

    async def readiness(self, transport: Transport) -> Readiness:
        state = next(self.ready, self.last_ready)
        return Readiness(state in ("running", "degraded"), state)


POLICY = RebootPolicy(timeout=60, readiness_timeout=30, stability_window=5, stability_timeout=30)
T = FakeTransport(lambda argv, stdin: (0, ""))


async def test_down_then_new_id_then_ready_then_stable() -> None:
    time, phases = FakeTime(), []
    probe = ScriptedProbe(["old", None, None, "new"], ready=["starting", "degraded"])
    after = await await_reboot(
        T, probe, "old", POLICY, clock=time.clock(), on_phase=lambda p, d: phases.append(p)
    )
    assert after == "new"
    assert phases == ["reboot.boot_id_change", "reboot.readiness", "reboot.stability"]


async def test_failing_read_is_never_a_changed_id() -> None:
    with pytest.raises(RebootError, match="did not come back"):
        await await_reboot(T, ScriptedProbe([None]), "old", POLICY, clock=FakeTime().clock())


async def test_answers_but_same_id_is_not_rebooted() -> None:
    with pytest.raises(RebootError, match="has not rebooted"):
        await await_reboot(T, ScriptedProbe(["old"]), "old", POLICY, clock=FakeTime().clock())


async def test_back_off_is_bounded() -> None:
    time = FakeTime()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.t += seconds

    with pytest.raises(RebootError):
        await await_reboot(
            T, ScriptedProbe([None]), "old", POLICY, clock=Clock(now=lambda: time.t, sleep=sleep)
        )
    first = POLICY.polls.first
    assert max(sleeps) <= POLICY.polls.cap * 1.1 and first * 0.9 <= sleeps[0] <= first * 1.1
    assert sleeps[5] > 1.5 * sleeps[0]  # growing (x1.2 a try, ±10 % jitter)
    assert time.t <= POLICY.timeout


async def test_never_ready_names_the_readiness_phase() -> None:
    probe = ScriptedProbe(["new"], ready=["starting"])
    with pytest.raises(PhaseTimeout) as caught:
        await await_reboot(T, probe, "old", POLICY, clock=FakeTime().clock())
    assert caught.value.phase == "reboot.readiness"


async def test_second_reboot_during_stability_window_waits_for_the_newest_id() -> None:
    probe = ScriptedProbe(["new", "newer", "newer"])
    assert await await_reboot(T, probe, "old", POLICY, clock=FakeTime().clock()) == "newer"


async def test_old_id_after_lapses_is_not_rebooted_and_within_the_timeout() -> None:
    # a shutdown stuck under load: sshd refuses new links, our open session still answers
    time = FakeTime()
    probe = ScriptedProbe(["old", None, None, "old"])
    with pytest.raises(RebootError, match="did not answer at times: it has not rebooted"):
        await await_reboot(T, probe, "old", POLICY, clock=time.clock())
    assert time.t <= POLICY.timeout


class HangingFirstRead(ScriptedProbe):
    """The first read hangs (a login reaching a target that shuts down), then answers."""

    async def boot_id(self, transport: Transport) -> str:
        if not getattr(self, "hung", False):
            self.hung = True
            await asyncio.sleep(3600)
        return await super().boot_id(transport)


async def test_a_hanging_read_does_not_eat_the_reboot_timeout() -> None:
    policy = replace(POLICY, read_timeout=0.05)
    started = asyncio.get_running_loop().time()
    after = await await_back(T, HangingFirstRead(["new"]), "old", policy, clock=Clock())
    assert after[0] == "new"
    assert asyncio.get_running_loop().time() - started < 5

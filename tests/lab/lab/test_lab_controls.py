"""Lab controls: cut and restore the link, hang at reboot, start again."""

from __future__ import annotations

import time

import pytest

from patchpilot.lab import Lab, LabError, Server

pytestmark = pytest.mark.lab


def test_cut_and_restore(lab: Lab, lab_server: Server) -> None:
    lab.cut(lab_server.name)
    cut = lab.ssh(lab_server.name, ["true"], check=False, timeout=20)
    assert cut.returncode != 0
    lab.restore(lab_server.name)
    assert lab.ssh(lab_server.name, ["true"]).returncode == 0


def test_hang_keeps_the_server_down_for_a_while(lab: Lab, lab_server: Server) -> None:
    lab.hang(lab_server.name, 2)
    started = time.monotonic()
    lab.reboot(lab_server.name, wait=False)
    time.sleep(0.5)
    assert lab.boot_id(lab_server.name) is None
    while lab.boot_id(lab_server.name) is None:
        assert time.monotonic() - started < 30
        time.sleep(0.1)
    assert time.monotonic() - started >= 2


def test_hang_forever_then_start(lab: Lab, lab_server: Server) -> None:
    lab.hang(lab_server.name, None)
    lab.reboot(lab_server.name, wait=False)
    time.sleep(2)
    assert lab.boot_id(lab_server.name) is None
    assert lab.start(lab_server.name)


def test_unknown_server_is_a_clear_error(lab: Lab) -> None:
    with pytest.raises(LabError, match="no server"):
        lab.reboot("lab-999")


def test_a_running_lab_refuses_a_second_up(lab: Lab) -> None:
    with pytest.raises(LabError, match="already running"):
        lab.up(1)

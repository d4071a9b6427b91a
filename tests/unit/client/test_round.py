"""A round with a scripted backend: records, state, ack, ack timeout, errors, reboot decision."""

import json
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from patchpilot.client import round as round_module
from patchpilot.client.backends.base import (
    Backend,
    Emit,
    RebootState,
    StaleReport,
    Update,
    UpdateResult,
)
from patchpilot.client.backends.dpkg import LockTimeout
from patchpilot.client.endpoints.unix import connect_unix
from patchpilot.client.jobspec import parse_job_spec
from patchpilot.client.journal import Journal
from patchpilot.client.paths import RoundPaths
from patchpilot.client.peer import LogPeer
from patchpilot.client.round import Round

SECRET = "7a" * 32


class ScriptedBackend(Backend):
    name = "scripted"

    def __init__(self, fail_prepare: bool = False, reboot: bool = False) -> None:
        self.fail_prepare = fail_prepare
        self.reboot = reboot

    def prepare(self, emit: Emit) -> None:
        if self.fail_prepare:
            raise LockTimeout("the lock /var/lib/dpkg/lock-frontend is still held")
        emit("dpkg.repair", "info", {"reasons": ["test"]})

    def scan(self, emit: Emit) -> List[Update]:
        return [
            Update("lab-base-a", "A", "1.0-1", "2.0-1"),
            Update("lab-fail", "F", "1.0-1", "2.0-1"),
        ]

    def download(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        return [UpdateResult(u.id, "downloaded", u.candidate_version) for u in updates]

    def install(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
        return [
            UpdateResult(u.id, "failed" if u.id == "lab-fail" else "installed", u.candidate_version)
            for u in updates
        ]

    def reboot_state(self) -> RebootState:
        return RebootState(self.reboot, ["/var/run/reboot-required"] if self.reboot else [])


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[RoundPaths]:
    folder = tmp_path / "runs" / "r1" / "round-1"
    folder.mkdir(parents=True)
    yield RoundPaths(str(folder))


def make_round(paths: RoundPaths, backend: Backend, reboots: List[str], **spec: object) -> Round:
    doc = {
        "spec_version": 1,
        "run_id": "r1",
        "round": 1,
        "action": "install",
        "reboot": "if-required",
        "ack_timeout": 10,
        "secret": SECRET,
        **spec,
    }
    return Round(
        parse_job_spec(json.dumps(doc)),
        paths,
        Journal(paths.journal),
        backend,
        reboot=lambda: (reboots.append("reboot") or "fake reboot", []),
    )


def run_in_thread(round_: Round) -> Tuple[threading.Thread, List[int]]:
    status: List[int] = []
    thread = threading.Thread(target=lambda: status.append(round_.run()))
    thread.start()
    return thread, status


def attach(paths: RoundPaths) -> LogPeer:
    for _ in range(50):
        try:
            peer = LogPeer(connect_unix(paths.endpoint))
            break
        except OSError:
            threading.Event().wait(0.1)
    peer.handshake(SECRET)
    peer.read(1)
    return peer


def test_install_round_with_ack_and_reboot(folder: RoundPaths) -> None:
    reboots: List[str] = []
    round_ = make_round(folder, ScriptedBackend(reboot=True), reboots)
    round_.REBOOT_GRACE = 0.1
    thread, status = run_in_thread(round_)
    peer = attach(folder)
    records = peer.collect(10.0)
    result = records[-1]["fields"]
    assert result["status"] == "partial" and result["will_reboot"] is True
    assert result["reboot_reasons"] == ["/var/run/reboot-required"]
    assert [r["fields"]["status"] for r in records if r["event"] == "update.result"] == [
        "installed",
        "failed",
    ]
    peer.ack(records[-1]["seq"])
    after = peer.collect(10.0, until_final=False)
    assert after[0]["event"] == "reboot.requested"
    thread.join(10.0)
    peer.close()
    assert status == [0] and reboots == ["reboot"]
    assert [r["seq"] for r in records + after] == list(range(1, len(records + after) + 1))


def test_ack_timeout_keeps_the_journal(folder: RoundPaths) -> None:
    thread, status = run_in_thread(make_round(folder, ScriptedBackend(), [], ack_timeout=0.2))
    thread.join(10.0)
    events = [r["event"] for r in Journal.snapshot(folder.journal).records()]
    assert events[-2:] == ["round.result", "log.not_collected"]
    state = json.loads(Path(folder.state).read_text())
    assert (state["phase"], state["result"], state["exit_status"]) == ("done", "partial", 0)
    assert status == [0]
    assert not Path(folder.endpoint).exists()


def test_a_lock_timeout_ends_the_round_with_an_error(folder: RoundPaths) -> None:
    thread, status = run_in_thread(
        make_round(folder, ScriptedBackend(fail_prepare=True), [], ack_timeout=0)
    )
    thread.join(10.0)
    final = Journal.snapshot(folder.journal).records()[-2]
    assert final["event"] == "round.result" and final["fields"]["status"] == "error"
    assert "still held" in final["fields"]["message"]
    assert status == [4]
    assert json.loads(Path(folder.state).read_text())["phase"] == "failed"


def test_scan_never_reboots(folder: RoundPaths) -> None:
    reboots: List[str] = []
    round_ = make_round(
        folder, ScriptedBackend(reboot=True), reboots, action="scan", reboot="always", ack_timeout=0
    )
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    final = next(
        r for r in Journal.snapshot(folder.journal).records() if r["event"] == "round.result"
    )["fields"]
    assert final["status"] == "success" and final["results"] == [] and not final["will_reboot"]
    assert reboots == [] and status == [0]


def test_without_an_ack_it_still_reboots_and_says_the_log_was_not_collected(
    folder: RoundPaths,
) -> None:
    reboots: List[str] = []
    round_ = make_round(folder, ScriptedBackend(reboot=True), reboots, ack_timeout=0.2)
    round_.REBOOT_GRACE = 0.1
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    events = [r["event"] for r in Journal.snapshot(folder.journal).records()]
    assert events[-4:] == ["round.result", "log.not_collected", "reboot.requested", "reboot.failed"]
    assert reboots == ["reboot"] and status == [0]


def test_a_reboot_that_took_a_second_command_is_journaled(folder: RoundPaths) -> None:
    round_ = make_round(folder, ScriptedBackend(reboot=True), [], ack_timeout=0.2)
    lost = "systemctl reboot: exit 0, but the system is still running after 60 s"
    round_._issue_reboot = lambda: ("shutdown -r now", [lost])
    round_.REBOOT_GRACE = 0.1
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    records = Journal.snapshot(folder.journal).records()
    retried = next(r for r in records if r["event"] == "reboot.retried")["fields"]
    assert retried == {"command": "shutdown -r now", "failures": [lost]}
    assert [r["event"] for r in records][-2:] == ["reboot.retried", "reboot.failed"]
    assert status == [0]


class HoldingBackend(ScriptedBackend):
    """lab-base-c is locked on the target (dnf versionlock, zypper lock, apt-mark hold)."""

    hold_note = "held back: a lock"

    def scan(self, emit: Emit) -> List[Update]:
        held = Update("lab-base-c", "C", "1.0-1", "1.1-1", categories=("package", "held"))
        return [*super().scan(emit), held]


def _final(folder: RoundPaths) -> Dict[str, object]:
    return next(
        r for r in Journal.snapshot(folder.journal).records() if r["event"] == "round.result"
    )["fields"]


@pytest.mark.parametrize("action", ["scan", "install"])
def test_a_held_update_is_a_result_and_never_in_the_plan(folder: RoundPaths, action: str) -> None:
    installed: List[str] = []

    class Recording(HoldingBackend):
        def install(self, updates: List[Update], emit: Emit) -> List[UpdateResult]:
            installed.extend(u.id for u in updates)
            return super().install(updates, emit)

    round_ = make_round(folder, Recording(), [], action=action, ack_timeout=0)
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    final = _final(folder)
    assert final["plan"] == {"lab-base-a": "2.0-1", "lab-fail": "2.0-1", "lab-base-c": "1.1-1"}
    assert "lab-base-c" not in [u["id"] for u in final["updates"]]  # type: ignore[attr-defined]
    assert {"id": "lab-base-c", "status": "held", "version": None}.items() <= next(
        r
        for r in final["results"]
        if r["id"] == "lab-base-c"  # type: ignore[attr-defined]
    ).items()
    assert "lab-base-c" not in installed and status == [0]


def test_min_age_on_a_backend_without_release_dates_is_a_usage_error(folder: RoundPaths) -> None:
    round_ = make_round(folder, ScriptedBackend(), [], selection={"min_age": 7}, ack_timeout=0)
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    final = _final(folder)
    assert final["status"] == "error" and status == [4]
    assert str(final["message"]).startswith("SelectionUnsupported: scripted has no release dates")


def test_an_install_round_says_what_it_changed_in_the_package_database(
    folder: RoundPaths,
) -> None:
    """Issue 24 (5): the inventory before and after the install gives the change record."""
    inventories = [
        {"lab-base-a": "1.0-1", "lab-fail": "1.0-1", "lab-old": "1"},
        {"lab-base-a": "2.0-1", "lab-fail": "2.0-1", "lab-new": "3"},
    ]

    class Counting(ScriptedBackend):
        def inventory(self) -> Optional[Dict[str, str]]:
            return inventories.pop(0)

    thread, _ = run_in_thread(make_round(folder, Counting(), [], ack_timeout=0))
    thread.join(10.0)
    assert _final(folder)["changes"] == {
        "upgraded": [
            {"id": "lab-base-a", "from": "1.0-1", "to": "2.0-1"},
            {"id": "lab-fail", "from": "1.0-1", "to": "2.0-1"},
        ],
        "installed": [{"id": "lab-new", "version": "3"}],
        "removed": [{"id": "lab-old", "version": "1"}],
    }
    assert inventories == []


def test_a_scan_or_a_backend_without_inventory_gives_no_change_record(folder: RoundPaths) -> None:
    thread, _ = run_in_thread(make_round(folder, ScriptedBackend(), [], ack_timeout=0))
    thread.join(10.0)
    assert "changes" not in _final(folder)


def test_a_download_limit_on_a_backend_that_cannot_cap_is_a_usage_error(
    folder: RoundPaths,
) -> None:
    round_ = make_round(folder, ScriptedBackend(), [], download_limit=1 << 20, ack_timeout=0)
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    final = _final(folder)
    assert final["status"] == "error" and status == [4]
    assert str(final["message"]).startswith("SelectionUnsupported: scripted cannot cap")


class StaleBackend(ScriptedBackend):
    """A backend whose tool lists services on replaced files after the install."""

    def stale(self) -> StaleReport:
        return StaleReport(["cron.service", "dbus.service"], [], "needrestart -b")


def _services_round(
    folder: RoundPaths, monkeypatch: pytest.MonkeyPatch, *, reboot: bool
) -> Tuple[Dict[str, object], List[str], List[str]]:
    """Run a `reboot: services` round with /proc and systemctl at the edges; return its
    final fields, the units restarted and the reboots asked for."""
    restarted: List[str] = []

    def restart(units: List[str], emit: Emit) -> List[Dict[str, object]]:
        restarted.extend(units)
        return [{"unit": u, "status": "restarted", "old_pid": 7, "new_pid": 8} for u in units]

    monkeypatch.setattr(round_module, "scan", lambda skip: [])
    monkeypatch.setattr(round_module, "own_unit", lambda: "patchpilot-r1-r1.service")
    monkeypatch.setattr(round_module, "restart_services", restart)
    reboots: List[str] = []
    round_ = make_round(
        folder, StaleBackend(reboot=reboot), reboots, reboot="services", ack_timeout=0.2,
        restart={"no_restart": ["x*"], "install_tool": False},
    )  # fmt: skip
    round_.REBOOT_GRACE = 0.1
    thread, status = run_in_thread(round_)
    thread.join(10.0)
    final = next(
        r for r in Journal.snapshot(folder.journal).records() if r["event"] == "round.result"
    )
    assert status == [0]
    return final["fields"], restarted, reboots


def test_services_mode_restarts_instead_of_rebooting(
    folder: RoundPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields, restarted, reboots = _services_round(folder, monkeypatch, reboot=False)
    assert restarted == ["cron.service"] and reboots == []  # dbus is kept by default
    assert fields["will_reboot"] is False and fields["reboot_required"] is False
    services = fields["services"]
    assert isinstance(services, dict)
    assert services["restarted"] == [{"unit": "cron.service", "old_pid": 7, "new_pid": 8}]
    assert [k["unit"] for k in services["kept"]] == ["dbus.service"]
    assert str(services["reboot"]).startswith("no reboot needed")
    assert "restart_services" not in fields


def test_services_mode_reboots_for_what_a_restart_cannot_renew(
    folder: RoundPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields, restarted, reboots = _services_round(folder, monkeypatch, reboot=True)
    assert restarted == [] and reboots == ["reboot"]
    assert fields["will_reboot"] is True
    services = fields["services"]
    assert isinstance(services, dict)
    assert services["reboot_reasons"] == ["/var/run/reboot-required"]
    assert str(services["reboot"]).startswith("a reboot is needed: /var/run/reboot-required")


def test_other_policies_list_stale_services_and_restart_none(
    folder: RoundPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(round_module, "restart_services", None)  # never called
    thread, status = run_in_thread(make_round(folder, StaleBackend(), [], ack_timeout=0.2))
    thread.join(10.0)
    final = Journal.snapshot(folder.journal).records()[-2]
    assert final["fields"]["restart_services"] == ["cron.service", "dbus.service"]
    assert "services" not in final["fields"] and status == [0]

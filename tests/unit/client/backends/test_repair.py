"""Repairing what an interrupted transaction left: dpkg (configure, then apt-get -f install)
and rpm (older duplicates), with the package tools' answers scripted at run_command."""

from typing import Any, Dict, List, Optional, Sequence

import pytest

from patchpilot.client.backends import dpkg, rpmbase
from patchpilot.client.backends.dnf import DnfBackend
from patchpilot.client.backends.dpkg import Command
from patchpilot.client.backends.zypper import ZypperBackend

HALF = "The following packages are only half installed: lab-bulk-0007"


def _dpkg_tools(broken_after: int, monkeypatch: pytest.MonkeyPatch) -> List[List[str]]:
    """dpkg --audit reports a problem until `broken_after` repair commands ran."""
    ran: List[List[str]] = []

    def run(argv: Sequence[str], timeout: Optional[float] = None) -> Command:
        if list(argv[:2]) == ["dpkg", "--audit"]:
            repairs = sum(1 for a in ran if a[0] != "dpkg" or a[1] != "--audit")
            return Command(tuple(argv), 0, HALF if repairs < broken_after else "")
        ran.append(list(argv))
        return Command(tuple(argv), 0, "done")

    monkeypatch.setattr(dpkg, "run_command", run)
    monkeypatch.setattr(dpkg.os.path, "isdir", lambda path: False)
    return ran


def test_dpkg_configure_alone_when_it_settles_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _dpkg_tools(1, monkeypatch)
    seen: List[Dict[str, Any]] = []
    dpkg.repair_dpkg(lambda event, level, fields: seen.append(fields))
    assert [a[:3] for a in ran] == [["dpkg", "--configure", "-a"]]
    assert HALF in seen[0]["reasons"][0]


def test_apt_get_f_install_when_dpkg_still_reports_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _dpkg_tools(2, monkeypatch)
    seen: List[Dict[str, Any]] = []
    dpkg.repair_dpkg(lambda event, level, fields: seen.append(fields))
    assert [a[:3] for a in ran] == [["dpkg", "--configure", "-a"], ["apt-get", "-f", "install"]]
    assert len(seen) == 2


def test_a_package_reinst_required_is_reinstalled_when_the_first_two_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reset in a package's unpack leaves it half-installed and reinst-required: dpkg
    --configure -a (exit 1) and apt-get -f install (exit 100) refuse it (CI, lab-bulk-0123)."""
    ran: List[List[str]] = []
    mess = "The following packages are in a mess due to serious problems: lab-bulk-0123"

    def run(argv: Sequence[str], timeout: Optional[float] = None) -> Command:
        if list(argv[:2]) == ["dpkg", "--audit"]:
            return Command(
                tuple(argv), 0, "" if ["apt-get", "install"] in [a[:2] for a in ran] else mess
            )
        if argv[0] == "dpkg-query":
            return Command(tuple(argv), 0, "lab-bulk-0123\t2.0\tiHR\nlab-bulk-0124\t2.0\tii \n")
        ran.append(list(argv))
        return Command(tuple(argv), 1 if argv[0] == "dpkg" else 100 if "-f" in argv else 0, "")

    monkeypatch.setattr(dpkg, "run_command", run)
    monkeypatch.setattr(dpkg.os.path, "isdir", lambda path: False)
    seen: List[Dict[str, Any]] = []
    dpkg.repair_dpkg(lambda event, level, fields: seen.append(fields))
    assert [a[:3] for a in ran] == [
        ["dpkg", "--configure", "-a"],
        ["apt-get", "-f", "install"],
        ["apt-get", "install", "--reinstall"],
    ]
    assert ran[-1][-1] == "lab-bulk-0123" and "lab-bulk-0124" not in ran[-1]
    assert [f["exit_status"] for f in seen] == [1, 100, 0]


def test_nothing_runs_on_a_clean_dpkg(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _dpkg_tools(0, monkeypatch)
    dpkg.repair_dpkg(lambda event, level, fields: None)
    assert ran == []


RPM_QA = """lab-a.noarch 0:1.0-1 lab-a-1.0-1.noarch
lab-a.noarch 0:2.0-1 lab-a-2.0-1.noarch
lab-b.noarch 0:2.0-1 lab-b-2.0-1.noarch
kernel-core.x86_64 0:6.1-1 kernel-core-6.1-1.x86_64
kernel-core.x86_64 0:6.2-1 kernel-core-6.2-1.x86_64
lab-c.noarch 1:1.0-1 lab-c-1.0-1.noarch
lab-c.noarch 0:9.0-1 lab-c-9.0-1.noarch
"""


def _rpm(monkeypatch: pytest.MonkeyPatch) -> List[List[str]]:
    ran: List[List[str]] = []

    def run(argv: Sequence[str], timeout: Optional[float] = None) -> Command:
        ran.append(list(argv))
        return Command(tuple(argv), 0, RPM_QA if argv[:2] == ["rpm", "-qa"] else "")

    monkeypatch.setattr(rpmbase, "run_command", run)
    return ran


def test_older_duplicates_by_epoch_version_release_kernels_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _rpm(monkeypatch)
    assert rpmbase.older_duplicates() == ["lab-a-1.0-1.noarch", "lab-c-9.0-1.noarch"]


def test_dnf_removes_duplicates_its_own_way_zypper_through_rpm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran = _rpm(monkeypatch)
    seen: List[str] = []
    DnfBackend(lock_timeout=1)._repair(lambda event, level, fields: seen.append(event))
    assert ran[-1] == ["dnf", "-y", "remove", "--duplicates"] and seen == ["dnf.repair"]
    ZypperBackend(lock_timeout=1)._repair(lambda event, level, fields: seen.append(event))
    assert ran[-1][:3] == ["rpm", "-e", "--justdb"] and "lab-a-1.0-1.noarch" in ran[-1]


def test_a_failing_refresh_is_tried_again_until_it_answers_or_patience_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dpkg, "_REFRESH_AGAIN", 0.01)
    answers = [False, False, True, True]
    assert dpkg.patiently(lambda: answers.pop(0), patience=5) is True
    assert answers == [True]  # asked three times
    calls: List[int] = []
    assert dpkg.patiently(lambda: bool(calls.append(1)), patience=0.05) is False
    assert 2 <= len(calls) <= 6  # asked again every 0.01 s for 0.05 s, then given up

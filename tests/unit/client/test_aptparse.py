"""What apt, dpkg and the kernel print is parsed right: golden files and small cases."""

import json
from pathlib import Path
from typing import List, Optional

import pytest

from patchpilot.client.backends.aptparse import (
    PackageStatus,
    is_security_release,
    kernel_reason,
    parse_dpkg_errors,
    parse_dpkg_status,
    parse_proc_locks,
    parse_show,
    parse_simulation,
)

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("case", sorted((GOLDEN / "simulation").glob("*.txt")), ids=str)
def test_simulation_golden(case: Path) -> None:
    expected = json.loads(case.with_suffix(".json").read_text())
    got = [
        [u.name, u.installed, u.candidate, is_security_release(u.releases)]
        for u in parse_simulation(case.read_text())
    ]
    assert got == expected


@pytest.mark.parametrize("case", sorted((GOLDEN / "dpkg_errors").glob("*.txt")), ids=str)
def test_dpkg_errors_golden(case: Path) -> None:
    assert parse_dpkg_errors(case.read_text()) == json.loads(case.with_suffix(".json").read_text())


@pytest.mark.parametrize(
    ("releases", "expected"),
    [
        ("Debian-Security:12/bookworm-security [amd64]", True),
        ("lab:1.0/stable [all]", False),
        ("lab:1.0/stable, lab-sec:1.0/stable-security [all]", True),
        ("Debian-Security:12/stable [all]", True),
        ("Debian:12.15/oldstable [amd64]", False),
        ("Debian-Security:bookworm-security [all]", True),  # no Version in its Release file
        ("lab-sec:stable-security [all]", True),
        ("patchpilot-lab:bookworm [all]", False),
        ("trixie-security [all]", True),  # neither Label nor Version
        ("Debian:13.8/stable [amd64]", False),
    ],
)
def test_security_release(releases: str, expected: bool) -> None:
    assert is_security_release(releases) is expected


def test_show_takes_size_and_summary() -> None:
    text = (
        "Package: lab-base-a\nVersion: 2.0-1\nSize: 1234\nDescription: Lab package A\n"
        " long text\n\nPackage: jq\nVersion: 1.6\nDescription-en: JSON processor\n"
    )
    assert parse_show(text) == {"lab-base-a": (1234, "Lab package A"), "jq": (0, "JSON processor")}


def test_dpkg_status() -> None:
    text = "lab-fail\t2.0-1\tiF \nlibc6:amd64\t2.36-9\tii \nbroken line\n"
    statuses = parse_dpkg_status(text)
    assert statuses == {
        "lab-fail": PackageStatus("2.0-1", "iF "),
        "libc6": PackageStatus("2.36-9", "ii "),
    }
    assert statuses["libc6"].is_configured and not statuses["lab-fail"].is_configured


def test_proc_locks_holders_not_waiters() -> None:
    text = (
        "1: POSIX  ADVISORY  WRITE 4242 fd:01:131090 0 EOF\n"
        "1: -> POSIX  ADVISORY  WRITE 5151 fd:01:131090 0 EOF\n"
        "2: OFDLCK ADVISORY  READ  -1 00:19:77 0 EOF\n"
        "3: FLOCK  ADVISORY  WRITE 99 00:1a:5 0 EOF\n"
    )
    assert parse_proc_locks(text) == {131090: 4242, 77: -1, 5: 99}


@pytest.mark.parametrize(
    ("running", "installed", "expected"),
    [
        ("6.1.0-26-amd64", ["6.1.0-26-amd64"], None),
        (
            "6.1.0-26-amd64",
            ["6.1.0-26-amd64", "6.1.0-28-amd64"],
            "kernel 6.1.0-28-amd64 is installed, 6.1.0-26-amd64 is running",
        ),
        ("6.1.0-28-amd64", ["6.1.0-26-amd64", "6.1.0-28-amd64"], None),
        ("6.8.0-host", ["6.1.0-28-amd64"], None),  # a container: the running kernel is not ours
        (
            "6.1.0-9-amd64",
            ["6.1.0-10-amd64", "6.1.0-9-amd64"],
            "kernel 6.1.0-10-amd64 is installed, 6.1.0-9-amd64 is running",
        ),
    ],
)
def test_kernel_reason(running: str, installed: List[str], expected: Optional[str]) -> None:
    assert kernel_reason(running, installed) == expected

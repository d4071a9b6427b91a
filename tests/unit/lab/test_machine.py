"""The identity every fresh lab machine gets."""

from __future__ import annotations

from pathlib import Path

from patchpilot.lab.base import PLAIN_USER, SUDO_USER
from patchpilot.lab.machine import identity_files
from patchpilot.lab.repo import Repository


def test_identity_names_the_machine_and_points_apt_at_the_lab_only() -> None:
    files = identity_files("lab-7", "ssh-ed25519 AAAA lab\n", Repository(Path("/r"), "http://h:1/"))
    assert files["etc/hostname"] == "lab-7\n"
    for home in ("root", f"home/{SUDO_USER}", f"home/{PLAIN_USER}"):
        assert files[f"{home}/.ssh/authorized_keys"] == "ssh-ed25519 AAAA lab\n"
    assert files["etc/apt/sources.list"].splitlines() == [
        "deb [trusted=yes] http://h:1/ bookworm main",
        "deb [trusted=yes] http://h:1/ bookworm-security main",
    ]
    assert files["etc/lab-repo-url"] == "http://h:1/\n"
    assert len(files["etc/machine-id"].strip()) == 32
    assert (
        identity_files("lab-7", "", Repository(Path("/r"), "x"))["etc/machine-id"]
        != files["etc/machine-id"]
    )

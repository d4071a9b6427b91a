"""The lab's Debian releases: each its own image key and the config its tools accept."""

from __future__ import annotations

import pytest

from patchpilot.lab.base import CONFIG_FILES, base_key, config_files
from patchpilot.lab.errors import LabError
from patchpilot.lab.flavors import check_release
from patchpilot.lab.releases import DEFAULT_RELEASE, RELEASES, debian_release

SSHD = "etc/ssh/sshd_config.d/lab.conf"


def test_each_release_has_its_own_image() -> None:
    keys = {base_key("http://a/debian", name) for name in RELEASES}
    assert len(keys) == len(RELEASES)
    assert base_key("http://a/debian") == base_key("http://a/debian", DEFAULT_RELEASE)


def test_bookworm_keeps_the_lab_config_as_it_was() -> None:
    assert config_files(DEFAULT_RELEASE) == CONFIG_FILES


def test_bullseye_sshd_config_has_no_option_its_openssh_refuses() -> None:
    assert "KbdInteractiveAuthentication" not in config_files("bullseye")[SSHD]
    assert "PasswordAuthentication no" in config_files("bullseye")[SSHD]


def test_trixie_boots_on_cgroup_v1_and_stops_its_user_manager_quickly() -> None:
    trixie = debian_release("trixie")
    assert trixie.init_args == ("SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1",)
    assert (
        "TimeoutStopSec=5s" in config_files("trixie")["etc/systemd/system/user@.service.d/lab.conf"]
    )


def test_unknown_release_and_rpm_on_another_release_are_refused() -> None:
    with pytest.raises(
        LabError, match=r"unknown Debian release 'buster' \(one of bullseye, bookworm, trixie\)"
    ):
        debian_release("buster")
    with pytest.raises(LabError, match="--release trixie is for apt servers"):
        check_release("dnf", "trixie")
    check_release("apt", "trixie")
    check_release("dnf", DEFAULT_RELEASE)
